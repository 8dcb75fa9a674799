"""DVC stage `filter`: params `filter` + data/generated -> data/filtered (scores.csv with verdicts, sheets), table."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.filter import run_filter

if __name__ == "__main__":
    run_reported(
        lambda: run_filter(
            load_section("filter"), load_section("run"), generated=Path("data/generated"),
            output=Path("data/filtered"), metrics_dir=Path("metrics"), calibration=Path("metrics/calibration.json"),
        )
    )
