"""DVC stage `filter`: params `filter` + data/generated -> data/filtered (kept/, discarded/<filter>/), discard table."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline import run_filter

if __name__ == "__main__":
    run_reported(
        lambda: run_filter(
            load_section("filter"), generated=Path("data/generated"), output=Path("data/filtered"),
            metrics_dir=Path("metrics"),
        )
    )
