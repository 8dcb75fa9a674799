"""Batched SSIM against scikit-image's structural_similarity, pair by pair."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from reid.errors import ReidError
from reid.filters.ssim import ssim

TOLERANCE = 1e-4
SHAPE = (128, 64, 3)


def skimage_ssim(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(x, y)])


def person_like(rng: np.random.Generator, count: int) -> np.ndarray:
    """Smooth gradients, flat rectangles with sharp edges, and a little noise."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    images = np.empty((count, *SHAPE))
    for image in images:
        for channel in range(SHAPE[2]):
            slope = rng.uniform(-1.5, 1.5, 2)
            image[..., channel] = rng.uniform(60, 200) + slope[0] * (rows - 64) + slope[1] * (cols - 32)
        for _ in range(4):
            top, left = rng.integers(0, SHAPE[0] - 8), rng.integers(0, SHAPE[1] - 8)
            image[top : top + rng.integers(4, 40), left : left + rng.integers(4, 24)] = rng.uniform(0, 255, 3)
    images += rng.normal(0, 4, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def perturbed(rng: np.random.Generator, images: np.ndarray, noise: float) -> np.ndarray:
    return np.clip(images + rng.normal(0, noise, images.shape), 0, 255).astype(np.uint8)


def test_random_images_match_skimage():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (2, 6, *SHAPE), dtype=np.uint8)
    np.testing.assert_allclose(ssim(x, y), skimage_ssim(x, y), rtol=0, atol=TOLERANCE)


def test_person_like_pairs_match_skimage_from_near_identical_to_unrelated():
    rng = np.random.default_rng(1)
    x = person_like(rng, 6)
    near = perturbed(rng, x, 1.0)
    noisy = perturbed(rng, x, 20.0)
    unrelated = person_like(rng, 6)
    inverted = 255 - x
    for y in (near, noisy, unrelated, inverted):
        np.testing.assert_allclose(ssim(x, y), skimage_ssim(x, y), rtol=0, atol=TOLERANCE)
    assert ssim(x, near).min() > 0.95 > 0.5 > ssim(x, unrelated).max()


def test_other_sizes_and_channel_counts_match_skimage():
    rng = np.random.default_rng(2)
    for shape in [(7, 7, 1), (9, 13, 4), (31, 20, 3)]:
        x, y = rng.integers(0, 256, (2, 3, *shape), dtype=np.uint8)
        np.testing.assert_allclose(ssim(x, y), skimage_ssim(x, y), rtol=0, atol=TOLERANCE)


def test_flat_and_saturated_images_match_skimage():
    flat = np.stack([np.full(SHAPE, level, np.uint8) for level in (0, 1, 128, 255)])
    other = flat[::-1]
    np.testing.assert_allclose(ssim(flat, other), skimage_ssim(flat, other), rtol=0, atol=TOLERANCE)


def test_identical_images_give_one():
    rng = np.random.default_rng(3)
    x = np.concatenate([person_like(rng, 3), rng.integers(0, 256, (3, *SHAPE), dtype=np.uint8)])
    np.testing.assert_array_equal(ssim(x, x.copy()), np.ones(len(x)))


def test_chunks_and_threads_give_the_same_values_as_one_batch():
    rng = np.random.default_rng(4)
    x = person_like(rng, 11)
    y = perturbed(rng, x, 10.0)
    whole = ssim(x, y, chunk=len(x), workers=1)
    for chunk, workers in [(1, 1), (3, 2), (4, 3), (64, 2)]:
        np.testing.assert_array_equal(ssim(x, y, chunk=chunk, workers=workers), whole)


def test_views_and_empty_batches():
    rng = np.random.default_rng(5)
    x = person_like(rng, 4)
    seed = np.broadcast_to(x[0], x.shape)  # every image against its person's seed, no copy
    np.testing.assert_allclose(ssim(x, seed), skimage_ssim(x, seed), rtol=0, atol=TOLERANCE)
    result = ssim(x[:0], x[:0])
    assert result.shape == (0,) and result.dtype == np.float64


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((1, *SHAPE)), np.zeros((1, *SHAPE)), "uint8"),
        (np.zeros((1, *SHAPE), np.uint8), np.zeros((1, *SHAPE), np.uint16), "uint8"),
        (np.zeros((2, *SHAPE), np.uint8), np.zeros((1, *SHAPE), np.uint8), "differ in shape"),
        (np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8), "batch"),
        (np.zeros((1, 6, 64, 3), np.uint8), np.zeros((1, 6, 64, 3), np.uint8), "at least 7x7"),
        (np.zeros((1, 128, 6, 3), np.uint8), np.zeros((1, 128, 6, 3), np.uint8), "at least 7x7"),
        ([[0]], [[0]], "numpy arrays"),
    ],
)
def test_bad_input_is_refused(x, y, message):
    with pytest.raises(ReidError, match=message):
        ssim(x, y)


@pytest.mark.parametrize(("chunk", "workers"), [(0, None), (4, 0)])
def test_bad_chunk_or_workers_is_refused(chunk, workers):
    x = np.zeros((1, *SHAPE), np.uint8)
    with pytest.raises(ReidError, match="positive"):
        ssim(x, x, chunk=chunk, workers=workers)
