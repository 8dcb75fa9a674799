"""Image sets stored as a few tar shards, and the one way the project reads an image file.

DVC moves a folder one object per file, at ~100 objects/s whatever their size
(README, "Remote storage"), so 20,000 generated images took minutes to push
and pull, and the same images in a few tar files seconds. A large set is
therefore written as shards `images-000.tar`, `images-001.tar`, ... of
`SHARD_IMAGES` images each, and an image is addressed as
`<folder>/images-000.tar/<pid>/<name>.jpg`: the first path component ending
in `.tar` is the shard, the rest the member. `read_image_bytes` reads either
such an address or a plain file, so a folder of JPEGs (Market-1501,
data/prepared) and a sharded set are read the same way.

A shard's member offsets are read once per process (re-read when the file
changes); reading a member is then a seek and a read. Shards are plain
uncompressed tars (`tar -xf images-000.tar` unpacks one) written
deterministically: members in the order given, mtime 0, uid/gid 0, mode 0644,
so the same images give byte-identical shards and DVC stores them once.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from functools import lru_cache
from pathlib import Path

from reid.errors import ReidError

SHARD_SUFFIX = ".tar"
SHARD_IMAGES = 4000   # images per shard: ~13 MB of 128x64 JPEGs; 20,451 generated images -> 6 shards
SHARD_PREFIX = "images"
_SHARD_IN_PATH = re.compile(rf"{re.escape(SHARD_SUFFIX)}[/{re.escape(os.sep)}](?=.)")


def shard_addresses(members: list[str], per_shard: int = SHARD_IMAGES, prefix: str = SHARD_PREFIX) -> list[str]:
    """`<prefix>-NNN.tar/<member>` for each member: consecutive runs of `per_shard` members share a shard."""
    return [f"{prefix}-{i // per_shard:03d}{SHARD_SUFFIX}/{member}" for i, member in enumerate(members)]


def split_address(path: str | os.PathLike) -> tuple[str, str] | None:
    """(shard file, member name) when a component of `path` before the last ends in `.tar`, else None.

    String operations, not pathlib: this runs once per image read (pathlib made a read 5x slower).
    """
    text = os.fspath(path)
    found = _SHARD_IN_PATH.search(text)
    if found is None:
        return None
    return text[: found.start() + len(SHARD_SUFFIX)], text[found.end() :].replace(os.sep, "/")


def _members(shard: str) -> dict[str, tuple[int, int]]:
    """Member name -> (data offset, size) of a shard, read once per version of the file (one stat per call)."""
    try:
        stat = os.stat(shard)
    except FileNotFoundError:
        raise ReidError(f"{shard}: shard not found") from None
    return _read_members(shard, stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _read_members(shard: str, device: int, inode: int, mtime_ns: int, size: int) -> dict[str, tuple[int, int]]:
    """Keyed by the file's version too: a replaced shard is indexed again. tarfile itself notices truncation."""
    try:
        with tarfile.open(shard, "r:") as tar:
            members = {m.name: (m.offset_data, m.size) for m in tar if m.isfile()}
    except (tarfile.TarError, EOFError, OSError) as exc:  # OSError: a directory named .tar, no permission
        raise ReidError(f"{shard}: not a readable tar shard ({type(exc).__name__}: {exc}); "
                        "fetch it again (dvc pull) or regenerate it") from None
    return members


def image_exists(path: str | os.PathLike) -> bool:
    """True when `path` is a file or a member of its shard; a missing, corrupt or truncated shard raises ReidError."""
    address = split_address(path)
    if address is None:
        return os.path.isfile(path)
    shard, member = address
    return member in _members(shard)


def read_image_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a plain file or of a shard member (ReidError naming the shard when it lacks the member)."""
    address = split_address(path)
    if address is None:
        with open(path, "rb") as f:
            return f.read()
    shard, member = address
    members = _members(shard)
    if member not in members:
        raise ReidError(f"{shard}: no member {member!r} (named as {path})")
    offset, size = members[member]
    with open(shard, "rb", buffering=0) as f:
        f.seek(offset)
        return f.read(size)


class ImageWriter:
    """Write images to the addresses a manifest gives them: shard members (one shard open at a time) or plain files.

    A shard's members must come consecutively (as `shard_addresses` makes
    them); a shard is never reopened, so it cannot be written twice.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.tar: tarfile.TarFile | None = None
        self.shard: str | None = None
        self.written: set[str] = set()

    def add(self, address: str, data: bytes) -> None:
        split = split_address(address)
        if split is None:
            path = self.folder / address
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        shard, member = split
        if shard != self.shard:
            self._open(shard)
        info = tarfile.TarInfo(member)
        info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
        self.tar.addfile(info, io.BytesIO(data))

    def _open(self, shard: str) -> None:
        if shard in self.written:
            raise ReidError(f"{self.folder / shard}: its images are not consecutive in the manifest")
        self.close()
        path = self.folder / shard
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)
        self.shard = shard
        self.written.add(shard)

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
        self.tar = None

    def __enter__(self) -> "ImageWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

