"""The embedded synthetic data set: Market layout, determinism, and re-ID difficulty."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid.data.synthetic import SyntheticConfig, plan, render, write_synthetic_market
from reid.errors import ReidError
from reid.io import OUTPUT_MARKER

MARKET_NAME = re.compile(r"^(-1|\d{4})_c([1-6])s([1-6])_(\d{6})_(\d{2})\.jpg$")
FOLDERS = ("bounding_box_train", "query", "bounding_box_test")
SMALL = SyntheticConfig(seed=3, train_ids=6, test_ids=10, images_per_id=6, gallery_per_id=6, distractors=8, junk=5)
#: Big enough that chance Rank@1 is small and the raw-pixel estimate is not noise.
RANKING = SyntheticConfig(seed=0, train_ids=1, test_ids=40, images_per_id=1, gallery_per_id=6, distractors=30, junk=10)


def _index(root: Path) -> dict[str, list[tuple[Path, int, int]]]:
    """folder -> [(path, pid, camera)], from the file names."""
    index = {}
    for folder in FOLDERS:
        rows = []
        for path in sorted((root / folder).iterdir()):
            match = MARKET_NAME.match(path.name)
            assert match, f"not a Market-1501 name: {path.name}"
            rows.append((path, int(match[1]), int(match[2])))
        index[folder] = rows
    return index


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.float32)


def _files(root: Path) -> dict[str, bytes]:
    """The data set's images (the project's output marker is not one)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != OUTPUT_MARKER}


def _folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != OUTPUT_MARKER)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("small") / "market"
    return root, write_synthetic_market(root, SMALL, progress=False)


def test_layout_names_and_image_format(small):
    root, _ = small
    assert _folders(root) == sorted(FOLDERS)
    for rows in _index(root).values():
        for path, _, _ in rows:
            with Image.open(path) as image:
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 128))


def test_counts_and_pid_ranges(small):
    root, summary = small
    index = _index(root)
    train = [pid for _, pid, _ in index["bounding_box_train"]]
    query = [pid for _, pid, _ in index["query"]]
    gallery = [pid for _, pid, _ in index["bounding_box_test"]]
    assert len(train) == SMALL.train_ids * SMALL.images_per_id
    assert set(train) == set(range(1, SMALL.train_ids + 1))
    test_pids = set(range(SMALL.train_ids + 1, SMALL.train_ids + SMALL.test_ids + 1))
    assert set(query) == test_pids
    assert set(gallery) == test_pids | {0, -1}
    assert gallery.count(0) == SMALL.distractors and gallery.count(-1) == SMALL.junk
    assert len(gallery) == SMALL.test_ids * SMALL.gallery_per_id + SMALL.distractors + SMALL.junk
    assert 2 * SMALL.test_ids <= len(query) <= 5 * SMALL.test_ids
    assert summary["train"]["images"] == len(train) and summary["query"]["images"] == len(query)
    assert summary["gallery"]["images"] == len(gallery) and summary["train"]["ids"] == SMALL.train_ids


def test_every_train_identity_is_seen_by_several_cameras(small):
    cameras = defaultdict(set)
    for _, pid, cam in _index(small[0])["bounding_box_train"]:
        cameras[pid].add(cam)
    assert all(len(cams) >= 2 for cams in cameras.values())


def test_one_query_per_camera_and_a_match_in_another_camera(small):
    index = _index(small[0])
    query_cams = defaultdict(list)
    for _, pid, cam in index["query"]:
        query_cams[pid].append(cam)
    gallery_cams = defaultdict(set)
    for _, pid, cam in index["bounding_box_test"]:
        gallery_cams[pid].add(cam)
    for pid, cams in query_cams.items():
        assert len(cams) == len(set(cams)) >= 2
        assert set(cams) == gallery_cams[pid]
        assert all(gallery_cams[pid] - {cam} for cam in cams)


def test_refuses_a_non_empty_root_and_accepts_an_empty_one(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ReidError):
        write_synthetic_market(tmp_path / "full", SMALL, progress=False)
    (tmp_path / "empty").mkdir()
    tiny = SyntheticConfig(train_ids=1, test_ids=1, images_per_id=2, gallery_per_id=2, distractors=1, junk=1)
    summary = write_synthetic_market(tmp_path / "empty", tiny, progress=False)
    assert (summary["train"]["images"], summary["gallery"]["images"]) == (2, 4)
    assert _folders(tmp_path / "empty") == sorted(FOLDERS)


def test_rejects_configs_without_a_cross_camera_match():
    with pytest.raises(ReidError):
        SyntheticConfig(gallery_per_id=1)


def test_same_config_gives_identical_bytes(small, tmp_path):
    root, _ = small
    write_synthetic_market(tmp_path / "again", SMALL, progress=False)
    assert _files(tmp_path / "again") == _files(root)


def test_each_image_depends_only_on_its_own_shot(small):
    root, _ = small
    for shot in plan(SMALL)[::17]:
        assert render(shot, SMALL) == (root / shot.folder / shot.name).read_bytes()


def test_train_images_do_not_depend_on_the_test_split_size(small, tmp_path):
    root, _ = small
    other = replace(SMALL, test_ids=3, distractors=0, junk=0)
    write_synthetic_market(tmp_path / "other", other, progress=False)
    train = "bounding_box_train"
    assert _files(tmp_path / "other" / train) == _files(root / train)


def test_another_seed_gives_other_images(small, tmp_path):
    root, _ = small
    other = replace(SMALL, seed=SMALL.seed + 1)
    write_synthetic_market(tmp_path / "other", other, progress=False)
    mine, theirs = _files(root), _files(tmp_path / "other")
    assert not set(mine.values()) & set(theirs.values())


def test_images_of_one_identity_are_not_copies(small):
    by_pid = defaultdict(list)
    for path, pid, _ in _index(small[0])["bounding_box_train"]:
        by_pid[pid].append(_pixels(path))
    for images in by_pid.values():
        for i in range(len(images)):
            for j in range(i + 1, len(images)):
                assert np.abs(images[i] - images[j]).mean() > 3


def test_cameras_differ_in_mean_colour(small):
    by_cam = defaultdict(list)
    for path, _, cam in _index(small[0])["bounding_box_train"]:
        by_cam[cam].append(_pixels(path).reshape(-1, 3).mean(axis=0))
    means = np.array([np.mean(v, axis=0) for v in by_cam.values()])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=2)[np.triu_indices(len(means), 1)]
    assert len(means) >= 4
    assert gaps.min() > 3 and gaps.max() > 20


def _raw_pixel_rank1(root: Path) -> tuple[float, float]:
    """Market protocol on flattened, L2-normalised pixels; returns (Rank@1, chance Rank@1)."""
    index = _index(root)

    def features(folder):
        paths, pids, cams = zip(*index[folder])
        x = np.stack([_pixels(p).ravel() for p in paths])
        return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(pids), np.array(cams)

    q, q_pid, q_cam = features("query")
    g, g_pid, g_cam = features("bounding_box_test")
    distance = 1 - q @ g.T
    hits, chance = [], []
    for i in range(len(q)):
        valid = ~(((g_pid == q_pid[i]) & (g_cam == q_cam[i])) | (g_pid == -1))
        nearest = np.argmin(np.where(valid, distance[i], np.inf))
        hits.append(g_pid[nearest] == q_pid[i])
        chance.append(np.sum(valid & (g_pid == q_pid[i])) / valid.sum())
    return float(np.mean(hits)), float(np.mean(chance))


def test_raw_pixels_beat_chance_but_do_not_solve_it(tmp_path):
    write_synthetic_market(tmp_path / "ranking", RANKING, progress=False)
    rank1, chance = _raw_pixel_rank1(tmp_path / "ranking")
    assert rank1 > 2 * chance
    assert rank1 < 0.6
