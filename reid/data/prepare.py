"""The `prepare` step: one validated Market-layout folder plus `index.csv`.

Whatever the source (the embedded synthetic set or a real Market-1501 root),
later stages only ever read `<output>/index.csv` (path, pid, camid, split with
split in train/val/query/gallery) and the images beside it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from reid.config import from_section
from reid.data.market import INDEX_COLUMNS, ImagePolicy, assign_validation, read_market1501
from reid.data.synthetic import SyntheticConfig, write_synthetic_market
from reid.data.index import INDEX_FILE
from reid.errors import ReidError
from reid.io import atomic_dir
from reid.progress import progress_bar

SOURCES = ("synthetic", "market1501")


@dataclass(frozen=True)
class PrepareConfig:
    """params.yaml `data:` section."""

    source: str = "synthetic"
    market1501_root: str = "data/external/Market-1501-v15.09.15"
    seed: int = 0
    height: int = 128
    width: int = 64
    wrong_size: str = "resize"
    grayscale: str = "refuse"
    synthetic: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ReidError(f"params: data.source must be one of {SOURCES}, got {self.source!r}")

    @property
    def policy(self) -> ImagePolicy:
        return ImagePolicy(self.height, self.width, self.wrong_size, self.grayscale)

    def synthetic_config(self) -> SyntheticConfig:
        values = {"height": self.height, "width": self.width, **self.synthetic, "seed": self.seed}
        return from_section(SyntheticConfig, values, "data.synthetic")


def _copy_images(source_root: Path, index: pd.DataFrame, target_root: Path, policy: ImagePolicy, progress: bool):
    """Copy usable files byte for byte; re-encode the ones the policy fixes."""
    for folder in {Path(p).parent for p in index.path}:
        (target_root / folder).mkdir(parents=True, exist_ok=True)
    for rel, fix in progress_bar(zip(index.path, index.fix), total=len(index), desc="copy", unit="img", disable=not progress):
        if not fix:
            shutil.copyfile(source_root / rel, target_root / rel)
            continue
        with Image.open(source_root / rel) as image:
            image = image.convert("RGB").resize((policy.width, policy.height), Image.Resampling.BICUBIC)
            image.save(target_root / rel, quality=95)


def prepare_dataset(config: PrepareConfig, output: str | Path, progress: bool = True) -> pd.DataFrame:
    """Build `output` atomically and return its index (with the val split assigned)."""
    output = Path(output)
    with atomic_dir(output) as tmp:
        if config.source == "synthetic":
            write_synthetic_market(tmp, config.synthetic_config(), progress=progress)
            index = read_market1501(tmp, config.policy, progress=progress)
        else:
            root = Path(config.market1501_root)
            index = read_market1501(root, config.policy, progress=progress)
            _copy_images(root, index, tmp, config.policy, progress)
        index = assign_validation(index)[INDEX_COLUMNS]
        index.to_csv(tmp / INDEX_FILE, index=False)
    return index
