"""DVC stage `pretrain`: params `pretrain` + reid.pretrained -> data/pretrain (model pretrained on synthetic people, or a note)."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.pretrain import run_pretraining

if __name__ == "__main__":
    run_reported(
        lambda: run_pretraining(
            load_section("pretrain"),
            load_section("reid").get("pretrained", ""),
            load_section("run"),
            output=Path("data/pretrain"),
            checkpoints=Path("runs/checkpoints/pretrain"),
            summary_path=Path("metrics/pretrain.json"),
        )
    )
