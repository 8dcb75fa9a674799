"""DVC stage `train_augmented`: params `reid` + data/assembled -> data/reid_aug/model.pt, curves (or the baseline's)."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.train_augmented import run_augmented_training
from reid.pipeline.train_reid import TrainOutputs

if __name__ == "__main__":
    run_reported(
        lambda: run_augmented_training(
            load_section("reid"), load_section("run"), assembled=Path("data/assembled"),
            baseline=TrainOutputs.named(Path("data/reid/model.pt"), Path("metrics")),
            outputs=TrainOutputs.named(Path("data/reid_aug/model.pt"), Path("metrics"), prefix="aug_"),
            checkpoints=Path("runs/checkpoints/train_augmented"),
            synthetic_model=Path("data/pretrain/model.pt"),  # reid.pretrained: synthetic
        )
    )
