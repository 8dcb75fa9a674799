"""Market-1501 parsing and validation into an index table.

Market-1501 names its images `PPPP_cCsS_FFFFFF_BB.jpg` (person id, camera 1-6,
sequence, frame, box).  Gallery pid `0000` marks distractors (kept as
negatives) and `-1` marks junk detections (never counted).  Every image is
opened and decoded here so that a truncated or mislabelled file fails the
`prepare` stage with one line naming it, instead of a crash epochs later.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from reid.errors import ReidError
from reid.progress import progress_bar

#: Market-1501 folder name -> split name used in the index.
SPLIT_DIRS = {"bounding_box_train": "train", "query": "query", "bounding_box_test": "gallery"}
#: Files that Windows/macOS drop into image folders (the original archive ships Thumbs.db).
IGNORED_FILES = {"Thumbs.db", ".DS_Store", "desktop.ini"}
NAME_PATTERN = re.compile(r"^(?P<pid>-1|\d{4})_c(?P<cam>\d)s(?P<seq>\d)_(?P<frame>\d{6})_(?P<box>\d{2})\.jpg$")
JUNK_PID = -1
DISTRACTOR_PID = 0
INDEX_COLUMNS = ["path", "pid", "camid", "split"]
WRONG_SIZE_POLICIES = ("resize", "refuse")
GRAYSCALE_POLICIES = ("convert", "refuse")


@dataclass(frozen=True)
class ImagePolicy:
    """What to do with images that decode but are not 128x64 RGB."""

    height: int = 128
    width: int = 64
    wrong_size: str = "resize"
    grayscale: str = "refuse"

    def __post_init__(self):
        if self.wrong_size not in WRONG_SIZE_POLICIES:
            raise ReidError(f"data.wrong_size must be one of {WRONG_SIZE_POLICIES}, got {self.wrong_size!r}")
        if self.grayscale not in GRAYSCALE_POLICIES:
            raise ReidError(f"data.grayscale must be one of {GRAYSCALE_POLICIES}, got {self.grayscale!r}")


@dataclass(frozen=True)
class ImageVerdict:
    """Outcome of checking one image: `fix` lists the conversions `prepare` applies."""

    fix: tuple[str, ...] = ()


def parse_market_name(path: str | Path) -> tuple[int, int]:
    """Return (pid, camid) of a Market-1501 file name, or raise naming the file."""
    path = Path(path)
    match = NAME_PATTERN.match(path.name)
    if match is None:
        raise ReidError(f"{path}: name does not match Market-1501 pattern PPPP_cCsS_FFFFFF_BB.jpg")
    camid = int(match["cam"])
    if not 1 <= camid <= 6:
        raise ReidError(f"{path}: camera c{camid} outside 1-6")
    return int(match["pid"]), camid


def check_image(path: Path, policy: ImagePolicy) -> ImageVerdict:
    """Decode the whole image; refuse unreadable, truncated, non-image, or (by policy) odd files."""
    try:
        with Image.open(path) as image:
            image.load()
            mode, size = image.mode, image.size
    except UnidentifiedImageError:
        raise ReidError(f"{path}: not an image file") from None
    except PermissionError:
        raise ReidError(f"{path}: unreadable (permission denied)") from None
    except OSError as exc:
        raise ReidError(f"{path}: corrupt or truncated image ({exc})") from None
    fix: list[str] = []
    if mode in ("L", "LA", "I", "I;16", "1", "F"):
        if policy.grayscale == "refuse":
            raise ReidError(f"{path}: grayscale image (mode {mode}) refused; set data.grayscale: convert to accept it")
        fix.append(f"grayscale (mode {mode}) converted to RGB")
    elif mode not in ("RGB", "YCbCr"):
        fix.append(f"mode {mode} converted to RGB")
    if size != (policy.width, policy.height):
        if policy.wrong_size == "refuse":
            raise ReidError(
                f"{path}: size {size[0]}x{size[1]} (WxH) is not {policy.width}x{policy.height}; refused "
                "(set data.wrong_size: resize to accept it)"
            )
        fix.append(f"size {size[0]}x{size[1]} resized to {policy.width}x{policy.height}")
    return ImageVerdict(tuple(fix))


def _check_split_pid(path: Path, split: str, pid: int) -> None:
    if split != "gallery" and pid in (JUNK_PID, DISTRACTOR_PID):
        kind = "junk (-1)" if pid == JUNK_PID else "distractor (0000)"
        raise ReidError(f"{path}: {kind} pid only belongs in bounding_box_test, found in the {split} split")


def read_market1501(root: str | Path, policy: ImagePolicy = ImagePolicy(), progress: bool = True) -> pd.DataFrame:
    """Validate a Market-1501 root and index it.

    Returns a DataFrame with columns path (relative to `root`), pid, camid,
    split ("train", "query", "gallery") and fix (conversions `prepare` must
    apply, empty when the file is usable as is), sorted by split then name.
    """
    root = Path(root)
    if not root.is_dir():
        raise ReidError(f"{root}: Market-1501 root folder not found")
    files: list[tuple[Path, str]] = []
    for folder, split in SPLIT_DIRS.items():
        split_dir = root / folder
        if not split_dir.is_dir():
            raise ReidError(f"{split_dir}: missing folder (expected {', '.join(SPLIT_DIRS)} under {root})")
        names = sorted(p for p in split_dir.iterdir() if p.name not in IGNORED_FILES)
        if not names:
            raise ReidError(f"{split_dir}: empty split, no images")
        files.extend((p, split) for p in names)

    rows = []
    for path, split in progress_bar(files, desc="check images", unit="img", disable=not progress):
        if not path.is_file():
            raise ReidError(f"{path}: not a regular file")
        pid, camid = parse_market_name(path)
        _check_split_pid(path, split, pid)
        verdict = check_image(path, policy)
        for fix in verdict.fix:
            warnings.warn(f"{path}: {fix}", stacklevel=2)
        rows.append((path.relative_to(root).as_posix(), pid, camid, split, "; ".join(verdict.fix)))
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS + ["fix"])
    _check_protocol(root, index)
    return index


def _check_protocol(root: Path, index: pd.DataFrame) -> None:
    """Every query identity needs gallery images, or evaluation would silently skip it."""
    gallery_pids = set(index.loc[index.split == "gallery", "pid"])
    missing = sorted(set(index.loc[index.split == "query", "pid"]) - gallery_pids)
    if missing:
        raise ReidError(f"{root / 'query'}: {len(missing)} query pid(s) have no gallery image, e.g. {missing[0]:04d}")


def assign_validation(index: pd.DataFrame) -> pd.DataFrame:
    """Move the first training image of each identity to split "val" (layumi's prepare.py).

    Identities with a single training image keep it for training, so that
    every class the classifier learns has at least one example.
    """
    index = index.copy()
    train = index[index.split == "train"].sort_values("path")
    counts = train.groupby("pid")["path"].transform("size")
    first = train[counts > 1].groupby("pid", sort=False).head(1).index
    index.loc[first, "split"] = "val"
    return index
