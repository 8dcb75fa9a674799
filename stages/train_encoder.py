"""DVC stage `train_encoder`: params `encoder` + GAN snapshot + re-ID model + data/prepared -> data/encoder, encoder.json."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.train_encoder import run_encoder_training

if __name__ == "__main__":
    run_reported(
        lambda: run_encoder_training(
            load_section("encoder"), load_section("filter").get("detector"), load_section("run"),
            data=Path("data/prepared"), snapshot=Path("data/gan_eval/network.pt"), reid_model=Path("data/reid/model.pt"),
            output=Path("data/encoder"), checkpoints=Path("runs/checkpoints/train_encoder"),
            metrics_dir=Path("metrics"),
        )
    )
