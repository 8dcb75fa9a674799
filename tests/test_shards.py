"""Image sets in tar shards: deterministic shards, one reader for files and members, one-line errors."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_jpeg
from reid.data.generated import MANIFEST, read_listed_images
from reid.data.images import load_image
from reid.data.shards import ImageWriter, image_exists, read_image_bytes, shard_addresses, split_address
from reid.errors import ReidError

MEMBERS = [f"{pid:04d}/{pid:04d}_c1s1_{k:06d}_00.jpg" for pid in (7, 8, 9) for k in range(3)]


@pytest.fixture
def images(tmp_path) -> dict[str, bytes]:
    """Nine small JPEGs as member name -> bytes (written once as plain files under tmp_path/plain)."""
    return {m: write_jpeg(tmp_path / "plain" / m, seed).read_bytes() for seed, m in enumerate(MEMBERS)}


def write_set(folder, images: dict[str, bytes], per_shard: int = 4) -> list[str]:
    addresses = shard_addresses(list(images), per_shard)
    with ImageWriter(folder) as writer:
        for address, data in zip(addresses, images.values()):
            writer.add(address, data)
    return addresses


def test_addresses_fill_consecutive_shards_and_split_back():
    addresses = shard_addresses(MEMBERS, per_shard=4)
    assert addresses[0] == "images-000.tar/0007/0007_c1s1_000000_00.jpg"
    assert [a.split("/")[0] for a in addresses] == ["images-000.tar"] * 4 + ["images-001.tar"] * 4 + ["images-002.tar"]
    assert split_address(Path("data/generated/images-001.tar/0008/x.jpg")) == (
        "data/generated/images-001.tar", "0008/x.jpg")
    assert split_address("data/generated/images-001.tar") is None  # the shard itself is a plain file
    assert split_address("data/prepared/bounding_box_train/0001_c1s1_000000_00.jpg") is None


def test_same_images_give_byte_identical_shards_that_tar_unpacks(images, tmp_path):
    write_set(tmp_path / "a", images)
    write_set(tmp_path / "b", images)
    shards = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert shards == ["images-000.tar", "images-001.tar", "images-002.tar"]
    for name in shards:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with tarfile.open(tmp_path / "a" / "images-000.tar") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == MEMBERS[:4]
    assert {(i.mtime, i.uid, i.gid, i.mode, i.uname, i.gname) for i in infos} == {(0, 0, 0, 0o644, "", "")}
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "a" / "images-001.tar")], cwd=unpacked, check=True)
    assert (unpacked / MEMBERS[5]).read_bytes() == images[MEMBERS[5]]


def test_files_and_shard_members_read_the_same(images, tmp_path):
    addresses = write_set(tmp_path / "sharded", images)
    for address, member in zip(addresses, images):
        plain, packed = tmp_path / "plain" / member, tmp_path / "sharded" / address
        assert read_image_bytes(packed) == read_image_bytes(plain) == images[member]
        assert image_exists(packed) and image_exists(plain)
        assert np.array_equal(load_image(packed, 128, 64), load_image(plain, 128, 64))
    assert not image_exists(tmp_path / "sharded" / "images-000.tar" / "0007" / "absent.jpg")
    assert not image_exists(tmp_path / "plain" / "absent.jpg")


def test_a_rewritten_shard_is_read_anew(images, tmp_path):
    first = dict(list(images.items())[:2])
    write_set(tmp_path / "set", first)
    address = tmp_path / "set" / shard_addresses(list(first))[1]
    assert read_image_bytes(address) == first[MEMBERS[1]]
    write_set(tmp_path / "set", {MEMBERS[0]: images[MEMBERS[0]], MEMBERS[1]: images[MEMBERS[5]] + b"\0" * 512})
    assert read_image_bytes(address) == images[MEMBERS[5]] + b"\0" * 512


def test_bad_shards_are_one_line_errors_naming_the_file(images, tmp_path):
    addresses = write_set(tmp_path / "set", images)
    shard = tmp_path / "set" / "images-000.tar"
    with pytest.raises(ReidError, match=rf"^{shard}: no member '0007/absent.jpg' \(named as .*\)$"):
        read_image_bytes(shard / "0007" / "absent.jpg")
    missing = tmp_path / "set" / "images-009.tar"
    with pytest.raises(ReidError, match=rf"^{missing}: shard not found$"):
        image_exists(missing / MEMBERS[0])

    corrupt = tmp_path / "corrupt" / "images-000.tar"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(ReidError, match=rf"^{corrupt}: not a readable tar shard"):
        read_image_bytes(corrupt / MEMBERS[0])

    truncated = tmp_path / "truncated" / "images-000.tar"
    truncated.parent.mkdir()
    truncated.write_bytes(shard.read_bytes()[:2000])  # the first member's header and part of its data
    with pytest.raises(ReidError, match=rf"^{truncated}: not a readable tar shard \(ReadError: unexpected end of data\)"
                                        r"; fetch it again \(dvc pull\) or regenerate it$"):
        read_image_bytes(truncated / MEMBERS[0])
    cut_header = tmp_path / "cut-header" / "images-000.tar"
    cut_header.parent.mkdir()
    cut_header.write_bytes(shard.read_bytes()[:300])
    with pytest.raises(ReidError, match=rf"^{cut_header}: not a readable tar shard"):
        image_exists(cut_header / MEMBERS[0])
    assert read_image_bytes(tmp_path / "set" / addresses[-1]) == images[MEMBERS[-1]]


def test_a_shard_written_twice_is_refused(images, tmp_path):
    with pytest.raises(ReidError, match="images-000.tar: its images are not consecutive in the manifest"):
        with ImageWriter(tmp_path) as writer:
            for address in ("images-000.tar/a.jpg", "images-001.tar/b.jpg", "images-000.tar/c.jpg"):
                writer.add(address, images[MEMBERS[0]])


def test_manifest_check_finds_a_member_listed_but_absent(images, tmp_path):
    addresses = write_set(tmp_path / "set", images)
    listed = pd.DataFrame({"file": addresses, "pid": [int(m[:4]) for m in MEMBERS]})
    listed.to_csv(tmp_path / "set" / MANIFEST, index=False)
    assert list(read_listed_images(tmp_path / "set", ["file", "pid"], "hint").file) == addresses
    ghost = "images-002.tar/0009/0009_c1s1_000099_00.jpg"
    pd.concat([listed, pd.DataFrame({"file": [ghost], "pid": [9]})]).to_csv(tmp_path / "set" / MANIFEST, index=False)
    with pytest.raises(ReidError, match=rf"^{tmp_path / 'set' / ghost}: listed in .*manifest.csv but missing "
                                        r"\(1 missing\)$"):
        read_listed_images(tmp_path / "set", ["file", "pid"], "hint")
