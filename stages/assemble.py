"""DVC stage `assemble`: params `aug` + data/prepared + data/generated + data/filtered + data/invert -> data/assembled/index.csv."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.assemble import run_assemble

if __name__ == "__main__":
    run_reported(
        lambda: run_assemble(
            load_section("aug"), data=Path("data/prepared"), generated=Path("data/generated"),
            filtered=Path("data/filtered"), inverted=Path("data/invert"),
            output=Path("data/assembled"), metrics_dir=Path("metrics"),
        )
    )
