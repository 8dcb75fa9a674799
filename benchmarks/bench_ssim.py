"""Time batched `reid.filters.ssim.ssim` against scikit-image called per pair.

Builds person-sized (128x64x3 uint8) pairs like those the SSIM filter sees: a
smooth random image (blurred upsampled noise plus a few flat shapes) against
a shifted, re-lit and noisy version of it, so SSIM spreads around the
filter's 0.75 threshold.  skimage runs on a subset (it is slow).  Both are
timed in the same process, in alternating rounds so they share the machine's
load, and the best round of each is reported.  Exits 1 if any value differs from skimage's by
more than 1e-4.  Everything follows from --seed.

    python benchmarks/bench_ssim.py [--pairs 2000 --seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from reid.filters.ssim import ssim

HEIGHT, WIDTH, CHANNELS = 128, 64, 3
SKIMAGE_PAIRS = 200  # skimage subset per round
ROUNDS = 3
TOLERANCE = 1e-4
TARGET_SPEEDUP = 10
MAX_SHIFT = 2  # pixels
NOISE_SIGMA = 6.0  # grey levels


def build_pairs(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, 128, 64, 3) uint8 images and their shifted, re-lit, noisy versions."""
    rng = np.random.default_rng(seed)
    originals = np.empty((count, HEIGHT, WIDTH, CHANNELS), np.uint8)
    variants = np.empty_like(originals)
    for i in range(count):
        coarse = rng.uniform(0, 255, (HEIGHT // 8, WIDTH // 8, CHANNELS)).astype(np.float32)
        image = cv2.GaussianBlur(cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC), (0, 0), 2.0)
        for _ in range(3):  # flat shapes with sharp edges, like clothes and background
            top, left = rng.integers(0, HEIGHT - 16), rng.integers(0, WIDTH - 16)
            bottom, right = top + rng.integers(8, 48), left + rng.integers(8, 32)
            image[top:bottom, left:right] = rng.uniform(0, 255, CHANNELS)
        originals[i] = np.clip(image, 0, 255)
        shifted = np.roll(image, tuple(rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2)), axis=(0, 1))
        relit = shifted * rng.uniform(0.85, 1.15) + rng.normal(0, NOISE_SIGMA, image.shape)
        variants[i] = np.clip(relit, 0, 255)
    return originals, variants


def skimage_per_pair(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(x, y)])


def timed(fn, x, y, rates: list) -> np.ndarray:
    """fn(x, y), appending its pairs/s to rates."""
    start = time.perf_counter()
    values = fn(x, y)
    rates.append(len(x) / (time.perf_counter() - start))
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="pairs scored by the batched ssim per round")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be positive")

    x, y = build_pairs(args.pairs, args.seed)
    subset = slice(min(SKIMAGE_PAIRS, args.pairs))
    thread_counts = sorted({1, len(os.sched_getaffinity(0))})
    skimage_rates: list[float] = []
    batched_rates: dict[int, list[float]] = {threads: [] for threads in thread_counts}
    for _ in range(ROUNDS):
        reference = timed(skimage_per_pair, x[subset], y[subset], skimage_rates)
        for threads in thread_counts:
            batched = timed(partial(ssim, workers=threads), x, y, batched_rates[threads])
    max_diff = float(np.abs(batched[subset] - reference).max())

    baseline = max(skimage_rates)
    print(f"{args.pairs} pairs of {HEIGHT}x{WIDTH}x{CHANNELS} uint8 (skimage on {len(reference)}), "
          f"SSIM {np.percentile(batched, 5):.2f}-{np.percentile(batched, 95):.2f} (5-95%), best of {ROUNDS} rounds")
    print(f"skimage per pair:      {baseline:8.0f} pairs/s")
    for threads, rates in batched_rates.items():
        rate = max(rates)
        speedup = rate / baseline
        print(f"batched, {threads} thread(s): {rate:8.0f} pairs/s  {speedup:5.1f}x skimage (target {TARGET_SPEEDUP}x)")
    print(f"max |diff| vs skimage: {max_diff:.2e} (tolerance {TOLERANCE:g})")
    if max_diff > TOLERANCE:
        print("error: batched ssim differs from skimage", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
