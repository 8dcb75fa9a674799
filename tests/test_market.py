"""Market-1501 reader: every good and bad case named in the issue."""

from __future__ import annotations

import os
import shutil
import warnings

import pandas as pd
import pytest
from conftest import write_jpeg

from reid.data.market import ImagePolicy, assign_validation, parse_market_name, read_market1501
from reid.data.index import read_index
from reid.data.prepare import PrepareConfig, prepare_dataset
from reid.errors import ReidError


def test_parse_market_name():
    assert parse_market_name("0002_c1s1_000451_03.jpg") == (2, 1)
    assert parse_market_name("0000_c6s4_002202_01.jpg") == (0, 6)
    assert parse_market_name("-1_c3s2_012345_00.jpg") == (-1, 3)
    with pytest.raises(ReidError, match=r"0002_c7s1_000451_03.jpg: camera c7 outside 1-6"):
        parse_market_name("0002_c7s1_000451_03.jpg")
    for bad in ("002_c1s1_000451_03.jpg", "0002_c1s1_451_03.jpg", "0002_c1s1_000451_03.png", "foo.jpg"):
        with pytest.raises(ReidError, match="does not match Market-1501 pattern"):
            parse_market_name(bad)


def test_good_tree_is_indexed(market_root):
    (market_root / "bounding_box_train" / "Thumbs.db").write_bytes(b"\0windows thumbnail cache")
    index = read_market1501(market_root, progress=False)
    assert list(index.columns) == ["path", "pid", "camid", "split", "fix"]
    counts = index.split.value_counts().to_dict()
    assert counts == {"train": 12, "query": 2, "gallery": 10}
    gallery = index[index.split == "gallery"]
    assert set(gallery.pid) == {10, 11, 0, -1}
    assert (index.fix == "").all()
    assert not any("Thumbs.db" in p for p in index.path)


def test_validation_split_takes_first_image_per_id(market_root):
    index = assign_validation(read_market1501(market_root, progress=False))
    val = index[index.split == "val"]
    assert sorted(val.pid) == [1, 2, 3]
    assert all(p.endswith("_000000_00.jpg") for p in val.path)
    single = pd.DataFrame({"path": ["a.jpg"], "pid": [7], "camid": [1], "split": ["train"]})
    assert list(assign_validation(single).split) == ["train"]


@pytest.mark.parametrize("folder", ["bounding_box_train", "query", "bounding_box_test"])
def test_missing_folder(market_root, folder):
    shutil.rmtree(market_root / folder)
    with pytest.raises(ReidError, match=f"{folder}: missing folder"):
        read_market1501(market_root, progress=False)


def test_missing_root(tmp_path):
    with pytest.raises(ReidError, match="root folder not found"):
        read_market1501(tmp_path / "nowhere", progress=False)


def test_empty_split(market_root):
    for path in (market_root / "query").iterdir():
        path.unlink()
    (market_root / "query" / "Thumbs.db").write_bytes(b"x")
    with pytest.raises(ReidError, match="query: empty split"):
        read_market1501(market_root, progress=False)


def test_name_off_pattern(market_root):
    write_jpeg(market_root / "query" / "person_12.jpg", 99)
    with pytest.raises(ReidError, match=r"person_12.jpg: name does not match"):
        read_market1501(market_root, progress=False)


def test_camera_outside_range(market_root):
    write_jpeg(market_root / "bounding_box_test" / "0010_c0s1_000099_00.jpg", 99)
    with pytest.raises(ReidError, match=r"0010_c0s1_000099_00.jpg: camera c0 outside 1-6"):
        read_market1501(market_root, progress=False)


def test_truncated_image(market_root):
    path = market_root / "bounding_box_train" / "0001_c1s1_000000_00.jpg"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ReidError, match=r"0001_c1s1_000000_00.jpg: corrupt or truncated image"):
        read_market1501(market_root, progress=False)


def test_non_image_file(market_root):
    (market_root / "query" / "0010_c1s1_000010_00.jpg").write_text("not a jpeg at all")
    with pytest.raises(ReidError, match=r"0010_c1s1_000010_00.jpg: not an image file"):
        read_market1501(market_root, progress=False)


def test_dangling_link_is_unreadable(market_root):
    os.symlink(market_root / "missing.jpg", market_root / "query" / "0011_c2s1_000077_00.jpg")
    with pytest.raises(ReidError, match=r"0011_c2s1_000077_00.jpg: not a regular file"):
        read_market1501(market_root, progress=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(market_root):
    path = market_root / "query" / "0010_c1s1_000010_00.jpg"
    path.chmod(0)
    with pytest.raises(ReidError, match="unreadable"):
        read_market1501(market_root, progress=False)


def test_grayscale_refused_or_converted(market_root):
    write_jpeg(market_root / "bounding_box_train" / "0001_c2s1_000099_00.jpg", 5, mode="L")
    with pytest.raises(ReidError, match=r"0001_c2s1_000099_00.jpg: grayscale image \(mode L\) refused"):
        read_market1501(market_root, progress=False)
    with pytest.warns(UserWarning, match="converted to RGB"):
        index = read_market1501(market_root, ImagePolicy(grayscale="convert"), progress=False)
    assert index.fix.str.contains("grayscale").sum() == 1


def test_wrong_size_resized_or_refused(market_root):
    write_jpeg(market_root / "query" / "0011_c3s1_000123_00.jpg", 5, size=(50, 100))
    with pytest.warns(UserWarning, match=r"0011_c3s1_000123_00.jpg: size 50x100 resized to 64x128"):
        read_market1501(market_root, progress=False)
    with pytest.raises(ReidError, match=r"size 50x100 \(WxH\) is not 64x128; refused"):
        read_market1501(market_root, ImagePolicy(wrong_size="refuse"), progress=False)


def test_junk_outside_gallery_refused(market_root):
    write_jpeg(market_root / "bounding_box_train" / "-1_c1s1_000555_00.jpg", 5)
    with pytest.raises(ReidError, match=r"-1_c1s1_000555_00.jpg: junk \(-1\) pid only belongs in bounding_box_test"):
        read_market1501(market_root, progress=False)


def test_query_without_gallery_refused(market_root):
    write_jpeg(market_root / "query" / "0042_c1s1_000001_00.jpg", 5)
    with pytest.raises(ReidError, match="1 query pid\\(s\\) have no gallery image, e.g. 0042"):
        read_market1501(market_root, progress=False)


def test_bad_policy_value():
    with pytest.raises(ReidError, match="data.wrong_size must be one of"):
        ImagePolicy(wrong_size="stretch")


def test_prepare_market_copies_and_fixes(market_root, tmp_path):
    write_jpeg(market_root / "query" / "0011_c3s1_000123_00.jpg", 5, size=(50, 100))
    config = PrepareConfig(source="market1501", market1501_root=str(market_root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare_dataset(config, tmp_path / "prepared", progress=False)
    index = read_index(tmp_path / "prepared")
    assert set(index.split) == {"train", "val", "query", "gallery"}
    same = market_root / "bounding_box_test" / "0000_c3s1_000001_00.jpg"
    assert (tmp_path / "prepared" / "bounding_box_test" / same.name).read_bytes() == same.read_bytes()
    resized = read_market1501(tmp_path / "prepared", ImagePolicy(wrong_size="refuse"), progress=False)
    assert len(resized) == len(index)


def test_failed_prepare_leaves_previous_output_intact(market_root, tmp_path):
    output = tmp_path / "prepared"
    config = PrepareConfig(source="market1501", market1501_root=str(market_root))
    prepare_dataset(config, output, progress=False)
    before = sorted(p.relative_to(output) for p in output.rglob("*"))
    (market_root / "query" / "0010_c1s1_000010_00.jpg").write_text("broken")
    with pytest.raises(ReidError):
        prepare_dataset(config, output, progress=False)
    assert sorted(p.relative_to(output) for p in output.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
