"""Shared fixtures: tiny Market-1501 trees built in the test's temporary folder, a tiny generator."""

from __future__ import annotations

import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker per core: one thread each (and in the stages they spawn),
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # set before torch is imported, or it is read too late

import numpy as np
import pytest
import torch
from PIL import Image

from reid.gan.generator import Generator

# The files that take minutes (each a tiny project through DVC or an S3 server), started first so that under
# pytest-xdist the short files fill the other workers meanwhile instead of waiting behind them.
SLOWEST_FIRST = ("test_pipeline.py", "test_pipeline_aug.py", "test_s3_remote.py", "test_pretrain.py",
                 "test_gan_training.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


def write_jpeg(path: Path, seed: int, size=(64, 128), mode="RGB") -> Path:
    """A small noisy JPEG whose content depends on `seed` (size is W x H as PIL takes it)."""
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path, quality=90)
    return path


def make_market_tree(root: Path, train_ids=(1, 2, 3), test_ids=(10, 11), per_id=4) -> Path:
    """A valid Market-1501 layout: train ids over two cameras, queries with gallery matches, junk, distractors."""
    seed = 0
    for pid in train_ids:
        for k in range(per_id):
            seed += 1
            write_jpeg(root / "bounding_box_train" / f"{pid:04d}_c{1 + k % 2}s1_{k:06d}_00.jpg", seed)
    for pid in test_ids:
        seed += 1
        write_jpeg(root / "query" / f"{pid:04d}_c1s1_{pid:06d}_00.jpg", seed)
        for k in range(per_id):
            seed += 1
            write_jpeg(root / "bounding_box_test" / f"{pid:04d}_c{2 + k % 3}s1_{k:06d}_00.jpg", seed)
    write_jpeg(root / "bounding_box_test" / "0000_c3s1_000001_00.jpg", seed + 1)
    write_jpeg(root / "bounding_box_test" / "-1_c4s1_000002_00.jpg", seed + 2)
    return root


def tiny_generator() -> Generator:
    """A 16x16 StyleGAN3-T with random weights, the same every call."""
    torch.manual_seed(0)
    G = Generator(z_dim=16, w_dim=16, img_resolution=16, cfg="T", channel_base=256, channel_max=16)
    G.mapping.w_avg.normal_()  # a non-trivial w_avg, so truncation is exercised
    return G.eval()


@pytest.fixture
def market_root(tmp_path) -> Path:
    return make_market_tree(tmp_path / "Market-1501")
