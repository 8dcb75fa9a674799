"""Seed spread maths against numbers worked out by hand.

With 2 or 3 values the t distribution has closed forms (df = 1: Cauchy,
df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2))), so the expected quantiles and
p-values below are computed without scipy.
"""

from __future__ import annotations

import math

import pytest

from reid.metrics.spread import mean_interval, paired_difference

T_DF2 = math.sqrt(2 * 0.95**2 / (1 - 0.95**2))  # 4.3027: F(t) = 0.975 for df = 2
T_DF1 = math.tan(0.475 * math.pi)  # 12.706: the Cauchy quantile at 0.975


def p_df2(t: float) -> float:
    return 1 - abs(t) / math.sqrt(2 + t * t)


def test_mean_interval_of_three_values():
    interval = mean_interval([1.0, 2.0, 3.0])
    assert interval.n == 3 and interval.mean == pytest.approx(2.0)
    assert interval.half_width == pytest.approx(T_DF2 * 1.0 / math.sqrt(3))  # sd 1
    assert interval.half_width == pytest.approx(2.484138, abs=1e-6)
    assert (interval.low, interval.high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)


def test_one_value_has_no_interval():
    interval = mean_interval([0.8])
    assert (interval.mean, interval.half_width, interval.low, interval.high, interval.n) == (0.8, None, None, None, 1)


def test_a_consistent_gain_exceeds_the_seed_spread():
    # differences 0.010, 0.012, 0.014: mean 0.012, sd 0.002, t = 0.012 / (0.002 / sqrt 3) = 10.392
    result = paired_difference([0.81, 0.832, 0.854], [0.80, 0.82, 0.84])
    t = 0.012 / (0.002 / math.sqrt(3))
    assert result.n == 3 and result.difference.mean == pytest.approx(0.012)
    assert result.difference.half_width == pytest.approx(T_DF2 * 0.002 / math.sqrt(3))
    assert result.p_value == pytest.approx(p_df2(t)) and result.p_value == pytest.approx(0.009133, abs=1e-6)
    assert result.exceeds_noise is True


def test_a_scattered_gain_does_not():
    # differences 0.03, -0.01, 0.01: mean 0.01, sd 0.02, t = 0.866, p = 0.478
    result = paired_difference([0.83, 0.81, 0.85], [0.80, 0.82, 0.84])
    assert result.difference.mean == pytest.approx(0.01)
    assert result.difference.low == pytest.approx(0.01 - T_DF2 * 0.02 / math.sqrt(3))
    assert result.p_value == pytest.approx(p_df2(0.01 / (0.02 / math.sqrt(3))))
    assert result.p_value == pytest.approx(0.4778, abs=1e-4)
    assert result.exceeds_noise is False


def test_two_seeds_use_one_degree_of_freedom():
    # differences -0.05, -0.03: mean -0.04, sd 0.01414, t = -4, p = 1 - 2 atan(4) / pi
    result = paired_difference([0.75, 0.79], [0.80, 0.82])
    assert result.difference.mean == pytest.approx(-0.04)
    assert result.difference.half_width == pytest.approx(T_DF1 * math.sqrt(2) * 0.01 / math.sqrt(2))
    assert result.p_value == pytest.approx(1 - 2 * math.atan(4) / math.pi)
    assert result.exceeds_noise is False


def test_one_pair_has_no_test():
    result = paired_difference([0.805], [0.80])
    assert result.difference.mean == pytest.approx(0.005)
    assert (result.p_value, result.difference.half_width, result.exceeds_noise) == (None, None, None)


def test_identical_differences_have_a_zero_width_interval():
    same = paired_difference([0.5, 0.5], [0.25, 0.25])
    assert (same.difference.mean, same.difference.half_width) == (0.25, 0.0)
    assert (same.p_value, same.exceeds_noise) == (0.0, True)
    none = paired_difference([0.5, 0.5], [0.5, 0.5])
    assert (none.p_value, none.exceeds_noise) == (1.0, False)


def test_unpaired_lengths_are_refused():
    with pytest.raises(ValueError, match="same length"):
        paired_difference([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="non-empty"):
        mean_interval([])
