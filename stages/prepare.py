"""DVC stage `prepare`: params `data` -> data/prepared (Market layout + index.csv)."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.prepare import run_prepare

if __name__ == "__main__":
    run_reported(lambda: run_prepare(load_section("data"), Path("data/prepared")))
