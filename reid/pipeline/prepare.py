"""Stage `prepare`: params `data` -> the prepared data folder (Market layout + index.csv)."""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.prepare import PrepareConfig, prepare_dataset

SPLIT_ORDER = ("train", "val", "query", "gallery")


def run_prepare(values: dict, output: Path, progress: bool = True) -> dict:
    """Build the prepared data folder; returns image counts per split."""
    index = prepare_dataset(from_section(PrepareConfig, values, "data"), output, progress)
    counts = index.split.value_counts()
    summary = {split: int(counts.get(split, 0)) for split in SPLIT_ORDER}
    print(f"prepared {output}: " + ", ".join(f"{n} {split}" for split, n in summary.items()))
    return summary
