"""DVC stage `calibrate_filters`: params `filter` + real training images -> detector rejection curve, SSIM histogram."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.calibrate_filters import run_calibration

if __name__ == "__main__":
    run_reported(
        lambda: run_calibration(load_section("filter"), load_section("run"), data=Path("data/prepared"),
                                metrics_dir=Path("metrics"))
    )
