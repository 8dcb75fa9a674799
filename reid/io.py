"""Atomic file output: write to a temporary sibling, then rename into place.

A killed stage must never leave a half-written output that DVC (or a later
resume) would take as complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from reid.errors import ReidError


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path; on success it replaces `path` (for writers that need a name)."""
    path = Path(path)
    tmp = _tmp_sibling(path, suffix=path.suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory; on success it replaces directory `path` whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "d")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def load_torch_file(path: str | os.PathLike, what: str):
    """torch.load with weights_only=True (no code runs); any failure is one ReidError naming the file."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, runtime and zip errors for a bad file
        raise ReidError(f"{path}: not a loadable {what} ({type(exc).__name__})") from None


def check_tensor_shapes(path: str | os.PathLike, expected: dict, given: dict, what: str) -> None:
    """Refuse a weights file unless its tensors are exactly `expected` by name and shape.

    `expected` and `given` map tensor names to shapes; the error counts each
    kind of difference and names the first one.
    """
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(given) if tuple(expected[k]) != tuple(given[k]))
    if missing or unexpected or mismatched:
        first = (missing or unexpected or mismatched)[0]
        raise ReidError(
            f"{path}: not {what} ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(mismatched)} mis-shaped tensors, e.g. {first})"
        )


def fingerprint(settings: dict, files, labels=None) -> str:
    """Digest of the settings that shape a result and of the input files' bytes (and labels).

    A checkpoint carries it, so a resume never continues a run made with
    other params or other data.
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for i, path in enumerate(files):
        if labels is not None:
            digest.update(f"{labels[i]}\0".encode())
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()
