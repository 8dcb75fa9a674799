"""Mean SSIM of image pairs, batched, equal to scikit-image's within 1e-6.

SSIM (Wang et al. 2004) of two windows is

    (2 mx my + C1) (2 sxy + C2) / ((mx^2 + my^2 + C1) (sx^2 + sy^2 + C2)).

We match `skimage.metrics.structural_similarity(x, y, channel_axis=-1,
data_range=255)` with its defaults: 7x7 uniform window, K1 = 0.01, K2 = 0.03
(C = (K * 255)^2), sample (co)variances (factor 49/48), the map averaged after
cropping 3 pixels from each border, then averaged over channels.  skimage
filters with 'reflect' padding and crops afterwards, so the windows it averages
are exactly those lying wholly inside the image: only those count here, and
padding never matters.

Why it is fast and exact: with n = 49, multiplying the luminance factors by n^2
and the contrast-structure factors by n (n - 1) turns them into integer
expressions of the window sums of x, y, x^2 + y^2 and xy (all below
n^2 * 2 * 255^2 < 2^31).  The sums and the cancellations in the (co)variances
are therefore exact in int32, and only the final ratio is rounded (float32,
about 1e-7, so means agree with skimage's within 1e-6; identical images give
exactly 1).  Window sums come from OpenCV's box filter, run on each chunk of
images stacked into one tall image; windows that reach into the next image,
or past the last, are computed with the others and cropped away.  Chunks are
scored by one thread per CPU, each in buffers it allocates once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from reid.device import usable_cores
from reid.errors import ReidError

__all__ = ["ssim"]

_WINDOW = 7  # skimage's win_size for the uniform filter
_PIXELS = _WINDOW * _WINDOW
_DATA_RANGE = 255
_MAX_CHANNELS = 512  # OpenCV's limit for one image
# C1 = (K1 L)^2 and C2 = (K2 L)^2, scaled like the factors they are added to.
_C1_SCALED = (0.01 * _DATA_RANGE) ** 2 * _PIXELS**2
_C2_SCALED = (0.03 * _DATA_RANGE) ** 2 * _PIXELS * (_PIXELS - 1)
# Images per chunk: enough to amortise numpy's per-call overhead, few enough
# that a thread's buffers (about 1.3 MB per 128x64x3 image) stay in the L3 cache.
_CHUNK = 4


def ssim(x: np.ndarray, y: np.ndarray, chunk: int = _CHUNK, workers: int | None = None) -> np.ndarray:
    """Mean SSIM of each pair (x[i], y[i]) of uint8 images (N, H, W, C), as float64 (N,).

    Chunks of `chunk` pairs are shared by `workers` threads (default: one per
    usable CPU); numpy releases the GIL in the heavy calls, so they run in parallel.
    """
    _check_pairs(x, y)
    if chunk < 1 or (workers is not None and workers < 1):
        raise ReidError(f"ssim: chunk and workers must be positive, got chunk={chunk}, workers={workers}")
    similarities = np.empty(len(x))
    starts = range(0, len(x), chunk)
    workers = max(1, min(workers or usable_cores(), len(starts)))

    def score_chunks(worker: int) -> None:
        scorers: dict[int, _ChunkScorer] = {}  # by chunk length: the last chunk may be shorter
        for start in starts[worker::workers]:
            pairs = slice(start, start + chunk)
            count = len(x[pairs])
            if count not in scorers:
                scorers[count] = _ChunkScorer((count, *x.shape[1:]))
            similarities[pairs] = scorers[count](x[pairs], y[pairs])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(score_chunks, range(workers)))
    return similarities


def _check_pairs(x, y) -> None:
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        raise ReidError(f"ssim: images must be numpy arrays, got {type(x).__name__} and {type(y).__name__}")
    if x.dtype != np.uint8 or y.dtype != np.uint8:
        raise ReidError(f"ssim: images must be uint8, got {x.dtype} and {y.dtype}")
    if x.shape != y.shape:
        raise ReidError(f"ssim: image batches differ in shape: {x.shape} and {y.shape}")
    if x.ndim != 4 or not 1 <= x.shape[3] <= _MAX_CHANNELS:
        raise ReidError(f"ssim: images must be a batch (N, H, W, C) with 1-{_MAX_CHANNELS} channels, got {x.shape}")
    if min(x.shape[1:3]) < _WINDOW:
        raise ReidError(f"ssim: images must be at least {_WINDOW}x{_WINDOW} pixels, got {x.shape[1]}x{x.shape[2]}")


class _ChunkScorer:
    """Mean SSIM of chunks of one shape, computed in buffers allocated once.

    Fresh temporaries for every chunk would be page-faulted in again each time
    (the C allocator hands large freed blocks back to the system), which costs
    more than the arithmetic.
    """

    def __init__(self, shape: tuple[int, ...]):
        count, height, width, channels = shape
        self.stacked = (count * height, width, channels)  # the chunk as one tall image, for OpenCV
        self.rows = (count, height, width * channels)
        self.inside_row_length = (width - _WINDOW + 1) * channels
        # The windows wholly inside their image, in the map viewed as rows.
        self.inside = np.s_[:, : height - _WINDOW + 1, : self.inside_row_length]
        self.wide_x, self.wide_y, self.sum_y, self.cross = np.empty((4, *shape), np.int32)
        self.moments = np.empty((3, *shape), np.int32)
        self.window_sums = np.empty((3, *shape), np.int32)
        self.numerator, self.denominator, self.factor = np.empty((3, *shape), np.float32)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mean SSIM per pair; the factors are exact integers until the ratio."""
        sum_x, sum_y, sum_squares, sum_products = self._window_sums(x, y)
        cross = np.multiply(sum_x, sum_y, out=self.cross)  # n^2 mx my
        norms = np.multiply(sum_x, sum_x, out=sum_x)
        norms += np.multiply(sum_y, sum_y, out=sum_y)  # n^2 (mx^2 + my^2)
        covariance = np.multiply(sum_products, _PIXELS, out=sum_products)
        covariance -= cross  # n (n - 1) sxy
        variances = np.multiply(sum_squares, _PIXELS, out=sum_squares)
        variances -= norms  # n (n - 1) (sx^2 + sy^2)

        # The numerator's factors are halved (2 cross + C1 -> cross + C1 / 2, two
        # passes fewer), hence the 4 below; powers of 2 keep identical images at 1.
        numerator = _plus(cross, _C1_SCALED / 2, out=self.numerator)
        numerator *= _plus(covariance, _C2_SCALED / 2, out=self.factor)
        denominator = _plus(norms, _C1_SCALED, out=self.denominator)
        denominator *= _plus(variances, _C2_SCALED, out=self.factor)
        ssim_map = np.divide(numerator, denominator, out=self.numerator).reshape(self.rows)[self.inside]
        # einsum sums each short row fast in float32; rows add up in float64.
        return 4 * np.einsum("irc->ir", ssim_map).mean(axis=1, dtype=np.float64) / self.inside_row_length

    def _window_sums(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        """int32 sums of x, y, x^2 + y^2 and xy over the window whose top-left corner is each pixel.

        x and y share one int32, y in the high 16 bits: their window sums
        (< 2^14) cannot carry into each other, so one box filter serves both.
        The chunk is filtered as one tall image: windows reaching into the next
        image, or past the last, are cropped by the caller.
        """
        np.copyto(self.wide_x, x)
        np.copyto(self.wide_y, y)
        packed, squares, products = self.moments
        np.left_shift(self.wide_y, 16, out=packed)
        packed += self.wide_x
        np.multiply(self.wide_x, self.wide_x, out=squares)
        squares += np.multiply(self.wide_y, self.wide_y, out=products)
        np.multiply(self.wide_x, self.wide_y, out=products)
        for moment, window_sum in zip(self.moments, self.window_sums):
            cv2.boxFilter(moment.reshape(self.stacked), cv2.CV_32S, (_WINDOW, _WINDOW),
                          dst=window_sum.reshape(self.stacked), anchor=(0, 0), normalize=False)
        sum_packed, sum_squares, sum_products = self.window_sums
        sum_y = np.right_shift(sum_packed, 16, out=self.sum_y)
        sum_x = np.bitwise_and(sum_packed, 0xFFFF, out=sum_packed)
        return sum_x, sum_y, sum_squares, sum_products


def _plus(integers: np.ndarray, constant: float, out: np.ndarray) -> np.ndarray:
    """integers + constant in out's float type (cast, then add in place: faster than one mixed-type add)."""
    np.copyto(out, integers)
    out += out.dtype.type(constant)
    return out
