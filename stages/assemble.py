"""DVC stage `assemble`: params `aug` + data/prepared + data/filtered/kept + data/invert/kept -> data/assembled/index.csv."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.assemble import run_assemble

if __name__ == "__main__":
    run_reported(
        lambda: run_assemble(
            load_section("aug"), data=Path("data/prepared"), kept=Path("data/filtered/kept"),
            variants=Path("data/invert/kept"),
            output=Path("data/assembled"), metrics_dir=Path("metrics"),
        )
    )
