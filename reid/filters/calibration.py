"""Choosing a detector threshold from the scores of real images (thesis Fig 5.3).

A threshold that discards generated persons should discard few real ones, so
it is read off the real training images: the share they would lose at each
threshold, and the largest threshold that loses at most a target share
(thesis: 0.6 rejects 6.45% of the real Market-1501 images).
"""

from __future__ import annotations

import math

import numpy as np

from reid.errors import ReidError

#: Slack for rates like 0.29 whose product with the image count lands just under an integer.
_RATE_TOLERANCE = 1e-9


def _checked_scores(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ReidError("no detector scores to calibrate on (no real images)")
    if not np.isfinite(scores).all():
        raise ReidError("detector scores contain NaN or infinite values")
    return scores


def rejection_curve(scores, thresholds) -> np.ndarray:
    """Percent of images whose score is below each threshold (an image at the threshold is kept)."""
    ordered = np.sort(_checked_scores(scores))
    below = np.searchsorted(ordered, np.asarray(thresholds, dtype=np.float64), side="left")
    return 100.0 * below / ordered.size


def threshold_for_rejection(scores, rate: float) -> float:
    """The largest threshold that rejects at most `rate` (a fraction, e.g. 0.07) of the images.

    Rejecting means score < threshold, so the answer is a score itself: the
    (k+1)-th smallest for k = floor(rate * N) allowed rejections; any higher
    threshold would also reject that image and its ties. With rate 1 every
    threshold qualifies and the answer is +inf.
    """
    if not 0.0 <= rate <= 1.0:
        raise ReidError(f"target rejection rate must be a fraction in [0, 1], got {rate}")
    ordered = np.sort(_checked_scores(scores))
    allowed = math.floor(rate * ordered.size + _RATE_TOLERANCE)
    return math.inf if allowed >= ordered.size else float(ordered[allowed])
