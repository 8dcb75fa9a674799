"""DVC stage `invert`: params `invert` (+ gen layer groups, filters) + encoder + GAN -> data/invert, discard table."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.invert import run_invert

if __name__ == "__main__":
    run_reported(
        lambda: run_invert(
            load_section("invert"), load_section("gen"), load_section("filter"), load_section("run"),
            data=Path("data/prepared"), snapshot=Path("data/gan_eval/network.pt"),
            encoder_path=Path("data/encoder/encoder.pt"), output=Path("data/invert"), metrics_dir=Path("metrics"),
        )
    )
