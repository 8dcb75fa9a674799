"""The layout of a generated-persons folder: its manifest, shared by generation (writer) and filters (reader).

`manifest.csv` has a row per image: its `file` relative to the folder, the
artificial pid and camera, the seed and how the image was varied (`group`:
`seed` for a person's reference image, a layer group or `interpolate`).
The filter's `scores.csv` lists the same files with a verdict (`kept` or the
filter that discarded it). `generate` stores the images in tar shards, so a
file is a shard member such as `images-000.tar/0752/0752_c1s1_000000_00.jpg`
(reid.data.shards); a plain file path works the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reid.data.shards import image_exists
from reid.errors import ReidError

MANIFEST = "manifest.csv"
SCORES = "scores.csv"    # the filter's list: the manifest's rows with detector score, SSIM and verdict
KEPT = "kept"            # the verdict of an image that passed every filter
SEED_GROUP = "seed"
MANIFEST_COLUMNS = ["file", "pid", "camid", "seed", "mix_seed", "group", "layers", "psi", "weight"]


def read_listed_images(folder: Path, columns: list[str], hint: str, listing: Path | None = None) -> pd.DataFrame:
    """A list of images in `folder`, checked: readable CSV, has `columns`, every listed file present.

    The list is `listing` (default `folder`/manifest.csv), its `file` column
    relative to `folder`; `hint` says how to make one.
    """
    path = listing if listing is not None else folder / MANIFEST
    if not path.is_file():
        raise ReidError(f"{path}: manifest not found; {hint}")
    try:
        manifest = pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReidError(f"{path}: not a readable CSV manifest ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in manifest.columns]
    if missing:
        raise ReidError(f"{path}: missing column {missing[0]!r} (expected {', '.join(columns)})")
    absent = [f for f in manifest.file if not image_exists(folder / f)]
    if absent:
        raise ReidError(f"{folder / absent[0]}: listed in {path} but missing ({len(absent)} missing)")
    return manifest


def read_manifest(folder: Path) -> pd.DataFrame:
    """The manifest of a generated folder, checked: columns, files present, a seed image per person."""
    manifest = read_listed_images(folder, MANIFEST_COLUMNS, "generate the images first (reid generate)")
    path = folder / MANIFEST
    if manifest.empty:
        raise ReidError(f"{path}: the manifest lists no images")
    seedless = sorted(set(manifest.pid) - set(manifest.pid[manifest.group == SEED_GROUP]))
    if seedless:
        raise ReidError(f"{path}: person {seedless[0]} has no seed image (group '{SEED_GROUP}') to compare with")
    return manifest
