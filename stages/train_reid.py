"""DVC stage `train_reid`: params `reid` + data/prepared (+ data/pretrain) -> data/reid/model.pt, training curves."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.train_reid import run_training

if __name__ == "__main__":
    run_reported(
        lambda: run_training(
            load_section("reid"),
            load_section("run"),
            data=Path("data/prepared"),
            model_path=Path("data/reid/model.pt"),
            checkpoints=Path("runs/checkpoints/train_reid"),
            metrics_dir=Path("metrics"),
            synthetic_model=Path("data/pretrain/model.pt"),  # reid.pretrained: synthetic
        )
    )
