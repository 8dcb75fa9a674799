"""DVC stage `generate`: params `gen` + GAN snapshot -> data/generated (images-NNN.tar shards, manifest.csv, grid.png)."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.generate import next_pid, run_generation

if __name__ == "__main__":
    run_reported(
        lambda: run_generation(
            load_section("gen"), load_section("run"), snapshot=Path("data/gan_eval/network.pt"),
            output=Path("data/generated"), first_pid=next_pid(Path("data/prepared")),
        )
    )
