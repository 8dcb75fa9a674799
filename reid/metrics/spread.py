"""Seed-to-seed spread: a mean with its 95% t-interval, and a paired comparison with the baseline.

The thesis reports one training run per table row, so a 0.5% change cannot
be told from what another seed would have given. With a few seeds per row,
the t-interval of the mean says how far the row itself moves, and pairing a
row with the baseline trained from the same seed (same initialisation and
batch order) removes the part of the noise both share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of n values; `half_width` is None when one value gives no spread to measure."""

    mean: float
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width


@dataclass(frozen=True)
class PairedDifference:
    """Mean of row - baseline over matching seeds, its interval and the paired t-test p-value (None for n = 1)."""

    difference: Interval
    p_value: float | None

    @property
    def n(self) -> int:
        return self.difference.n

    @property
    def exceeds_noise(self) -> bool | None:
        """True when the interval excludes 0; None when one pair cannot say."""
        if self.difference.half_width is None:
            return None
        return self.difference.low > 0 or self.difference.high < 0


def _values(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty 1-D sequence of numbers, got shape {array.shape}")
    return array


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and the half-width of its Student-t confidence interval (n - 1 degrees of freedom)."""
    array = _values(values)
    if array.size == 1:
        return Interval(float(array[0]), None, 1)
    standard_error = array.std(ddof=1) / np.sqrt(array.size)
    critical = stats.t.ppf(0.5 + confidence / 2, df=array.size - 1)
    return Interval(float(array.mean()), float(critical * standard_error), int(array.size))


def paired_difference(values: Sequence[float], baseline: Sequence[float],
                      confidence: float = CONFIDENCE) -> PairedDifference:
    """Compare a row with the baseline, value i of each from the same seed.

    Identical differences (no spread, n > 1) give a zero-width interval and
    p = 0, or p = 1 when they are all zero: the t statistic is ±inf or 0/0.
    """
    row, base = _values(values), _values(baseline)
    if row.shape != base.shape:
        raise ValueError(f"paired values need the same length, got {row.size} and {base.size}")
    differences = row - base
    interval = mean_interval(differences, confidence)
    if interval.n == 1:
        return PairedDifference(interval, None)
    if differences.std(ddof=1) == 0:
        return PairedDifference(interval, 0.0 if interval.mean != 0 else 1.0)
    p_value = stats.ttest_1samp(differences, 0.0).pvalue
    return PairedDifference(interval, float(p_value))
