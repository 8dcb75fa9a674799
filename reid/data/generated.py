"""The layout of a generated-persons folder: its manifest, shared by generation (writer) and filters (reader).

`manifest.csv` has a row per image: its file under `images/<pid>/`, the
artificial pid and camera, the seed and how the image was varied (`group`:
`seed` for a person's reference image, a layer group or `interpolate`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reid.errors import ReidError

MANIFEST = "manifest.csv"
IMAGES = "images"
SEED_GROUP = "seed"
MANIFEST_COLUMNS = ["file", "pid", "camid", "seed", "mix_seed", "group", "layers", "psi", "weight"]


def read_listed_images(folder: Path, columns: list[str], hint: str) -> pd.DataFrame:
    """`folder`/manifest.csv, checked: readable, has `columns`, every listed file present. `hint` says how to make one."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ReidError(f"{path}: manifest not found; {hint}")
    try:
        manifest = pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReidError(f"{path}: not a readable CSV manifest ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in manifest.columns]
    if missing:
        raise ReidError(f"{path}: missing column {missing[0]!r} (expected {', '.join(columns)})")
    absent = [f for f in manifest.file if not (folder / f).is_file()]
    if absent:
        raise ReidError(f"{folder / absent[0]}: listed in {MANIFEST} but missing ({len(absent)} missing)")
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
