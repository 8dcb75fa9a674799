"""DVC stage `evaluate_gan`: data/gan network files -> detector acceptance, FID and its floor, grids (data/gan_eval)."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.evaluate_gan import run_gan_evaluation

if __name__ == "__main__":
    run_reported(
        lambda: run_gan_evaluation(
            load_section("gan_eval"), load_section("filter").get("detector"), load_section("gen")["truncation_psi"],
            load_section("run"),
            data=Path("data/prepared"), run_dir=Path("data/gan"), output=Path("data/gan_eval"),
            metrics_dir=Path("metrics"), calibration=Path("metrics/calibration.json"),
        )
    )
