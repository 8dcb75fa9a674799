"""The index of a prepared data folder (`index.csv`): what the training and evaluation stages read.

Kept apart from `reid.data.prepare`, so that the stages reading a prepared
folder do not import (and depend on) the code that builds one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reid.data.market import INDEX_COLUMNS
from reid.errors import ReidError

INDEX_FILE = "index.csv"
GAN_SPLITS = ("train", "val")  # the images a GAN learns from and is measured against


def read_index(root: str | Path) -> pd.DataFrame:
    """Read `<root>/index.csv` written by `prepare_dataset`, with absolute image paths."""
    root = Path(root)
    path = root / INDEX_FILE
    if not path.is_file():
        raise ReidError(f"{path}: index not found; run the prepare stage (reid prepare) first")
    index = pd.read_csv(path)
    if list(index.columns) != INDEX_COLUMNS:
        raise ReidError(f"{path}: expected columns {INDEX_COLUMNS}, got {list(index.columns)}")
    index["path"] = [str(root / p) for p in index.path]
    return index
