"""evaluate_market1501: hand-worked cases, a per-query reference loop, errors."""

import dataclasses
import json

import numpy as np
import pytest

from reid.errors import ReidError
from reid.metrics.rank import RankResult, evaluate_market1501


def one_query(distances, g_pids, g_camids, q_pid=1, q_camid=1, **kwargs):
    """Evaluate a single query (pid 1, camera 1 unless told) against a gallery row."""
    return evaluate_market1501(
        np.array([distances], dtype=np.float64),
        np.array([q_pid]),
        np.array(g_pids),
        np.array([q_camid]),
        np.array(g_camids),
        **kwargs,
    )


def expected_cmc(first_good_rank, max_rank=50):
    cmc = np.zeros(max_rank)
    cmc[first_good_rank:] = 1.0
    return cmc


# ---------------------------------------------------------------- by hand


def test_perfect_ranking():
    # Goods at 0-based ranks 0 and 1.  AP = (1/1 + 2/2) / 2 = 1.
    # Trapezoid: (1/2)(1 + 1)/2 + (1/2)(1/1 + 2/2)/2 = 1.  INP = 2/2 = 1.
    result = one_query([0.1, 0.2, 0.3, 0.4], g_pids=[1, 1, 2, 3], g_camids=[2, 3, 2, 1])
    np.testing.assert_array_equal(result.cmc, np.ones(50))
    assert (result.mAP, result.mAP_trapezoid, result.mINP) == (1.0, 1.0, 1.0)
    assert result.num_valid_queries == 1


def test_first_good_at_rank_three_and_trapezoid_differs_from_standard_ap():
    # Order: neg, neg, good, neg, good -> goods at 0-based ranks 2 and 4.
    # Standard AP = (1/3 + 2/5) / 2 = 11/30.
    # Trapezoid: hit 0 at r=2: old = 0/2 = 0, precision 1/3 -> (1/2)(0 + 1/3)/2 = 1/12;
    #            hit 1 at r=4: old = 1/4, precision 2/5 -> (1/2)(1/4 + 2/5)/2 = 13/80;
    #            total 1/12 + 13/80 = 59/240.
    # INP = 2 goods / 5 items up to the last good = 2/5.
    result = one_query([0.1, 0.2, 0.3, 0.4, 0.5], g_pids=[2, 3, 1, 4, 1], g_camids=[1, 2, 2, 3, 3])
    np.testing.assert_array_equal(result.cmc, expected_cmc(2))
    assert (result.rank1, result.rank5, result.rank10) == (0.0, 1.0, 1.0)
    assert result.mAP == pytest.approx(11 / 30, abs=1e-15)
    assert result.mAP_trapezoid == pytest.approx(59 / 240, abs=1e-15)
    assert result.mINP == pytest.approx(2 / 5, abs=1e-15)


def test_equal_distances_are_ordered_by_gallery_index():
    # All four at 0.5: the order is the gallery order, neg, good, neg, good,
    # so goods sit at ranks 1 and 3: AP = (1/2 + 2/4) / 2 = 1/2, INP = 2/4.
    result = one_query([0.5, 0.5, 0.5, 0.5], g_pids=[2, 1, 3, 1], g_camids=[1, 2, 2, 3])
    np.testing.assert_array_equal(result.cmc, expected_cmc(1))
    assert result.mAP == pytest.approx(1 / 2, abs=1e-15)
    assert result.mINP == pytest.approx(1 / 2, abs=1e-15)
    # Swap roles by index: good, neg, neg, good -> ranks 0 and 3, AP = (1 + 2/4) / 2 = 3/4.
    result = one_query([0.5, 0.5, 0.5, 0.5], g_pids=[1, 2, 3, 1], g_camids=[2, 1, 2, 3])
    np.testing.assert_array_equal(result.cmc, expected_cmc(0))
    assert result.mAP == pytest.approx(3 / 4, abs=1e-15)


def test_tie_with_an_earlier_negative_but_not_with_a_later_one():
    # good (index 2) ties with index 0 (neg, earlier -> before it) and index 3
    # (neg, later -> after it); index 1 is closer.  Rank = 2, AP = 1/3.
    result = one_query([0.3, 0.1, 0.3, 0.3], g_pids=[2, 3, 1, 4], g_camids=[1, 1, 2, 1])
    np.testing.assert_array_equal(result.cmc, expected_cmc(2))
    assert result.mAP == pytest.approx(1 / 3, abs=1e-15)


def test_query_without_valid_match_is_skipped():
    # Query 1 (pid 5, camera 1) only has its own camera's image -> junk -> skipped.
    # Query 0 (pid 1): pid-5 item is an ordinary negative at rank 0, good at rank 1.
    result = evaluate_market1501(
        np.array([[0.1, 0.2], [0.1, 0.2]]),
        q_pids=np.array([1, 5]),
        g_pids=np.array([5, 1]),
        q_camids=np.array([1, 1]),
        g_camids=np.array([1, 2]),
    )
    assert result.num_valid_queries == 1
    np.testing.assert_array_equal(result.cmc, expected_cmc(1))
    assert result.mAP == pytest.approx(1 / 2, abs=1e-15)


def test_junk_pid_minus_one_is_removed_for_every_query():
    # Two pid -1 items in front (one even shares the query's camera) vanish,
    # leaving good, neg, good: ranks 0 and 2.
    # AP = (1 + 2/3) / 2 = 5/6.  Trapezoid: (1/2)(1 + 1)/2 + (1/2)(1/2 + 2/3)/2 = 1/2 + 7/24 = 19/24.
    # INP = 2/3.
    result = one_query(
        [0.1, 0.15, 0.2, 0.3, 0.4], g_pids=[-1, -1, 1, 2, 1], g_camids=[2, 1, 2, 2, 3]
    )
    np.testing.assert_array_equal(result.cmc, expected_cmc(0))
    assert result.mAP == pytest.approx(5 / 6, abs=1e-15)
    assert result.mAP_trapezoid == pytest.approx(19 / 24, abs=1e-15)
    assert result.mINP == pytest.approx(2 / 3, abs=1e-15)


def test_same_pid_same_camera_is_removed():
    # The closest item is the query's own pid in its own camera -> junk.
    # Left: neg, good -> rank 1, AP = 1/2, INP = 1/2.
    result = one_query([0.1, 0.2, 0.3], g_pids=[1, 2, 1], g_camids=[1, 2, 2])
    np.testing.assert_array_equal(result.cmc, expected_cmc(1))
    assert result.mAP == pytest.approx(1 / 2, abs=1e-15)
    assert result.mINP == pytest.approx(1 / 2, abs=1e-15)


def test_distractors_pid_zero_count_as_negatives():
    # Two pid-0 distractors in front of the only good -> rank 2, AP = 1/3.
    result = one_query([0.1, 0.2, 0.3], g_pids=[0, 0, 1], g_camids=[1, 2, 2])
    np.testing.assert_array_equal(result.cmc, expected_cmc(2))
    assert result.mAP == pytest.approx(1 / 3, abs=1e-15)
    assert result.mAP_trapezoid == pytest.approx(1 / 6, abs=1e-15)  # (0/2 + 1/3) / 2


def test_max_rank_larger_than_gallery_saturates():
    # 3 items, good at rank 1: CMC keeps max_rank entries and stays at 1.
    result = one_query([0.2, 0.1, 0.3], g_pids=[1, 2, 3], g_camids=[2, 1, 1], max_rank=100)
    assert result.cmc.shape == (100,)
    np.testing.assert_array_equal(result.cmc, expected_cmc(1, 100))


def test_minp_by_hand_over_two_queries():
    # Query 0: goods at ranks 0 and 2 -> INP = 2/3.  Query 1: good at rank 1 -> INP = 1/2.
    # mINP = (2/3 + 1/2) / 2 = 7/12; CMC@1 = 1/2.
    result = evaluate_market1501(
        np.array([[0.1, 0.2, 0.3, 0.9], [0.5, 0.05, 0.9, 0.1]]),
        q_pids=np.array([1, 2]),
        g_pids=np.array([1, 3, 1, 2]),
        q_camids=np.array([1, 1]),
        g_camids=np.array([2, 2, 3, 2]),
    )
    assert result.mINP == pytest.approx(7 / 12, abs=1e-15)
    assert result.cmc[0] == pytest.approx(1 / 2)
    assert result.num_valid_queries == 2


def test_result_is_frozen_and_serialisable():
    result = one_query([0.1, 0.2, 0.3, 0.4, 0.5], g_pids=[2, 3, 1, 4, 1], g_camids=[1, 2, 2, 3, 3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mAP = 1.0
    with pytest.raises(ValueError):
        result.cmc[0] = 1.0
    payload = json.loads(json.dumps(result.as_dict()))
    assert set(payload) == {
        "rank1", "rank5", "rank10", "mAP", "mAP_trapezoid", "mINP", "num_valid_queries", "cmc"
    }
    assert payload["num_valid_queries"] == 1 and len(payload["cmc"]) == 50


def test_thesis_line_format():
    cmc = np.full(50, 0.977732)
    cmc[:5] = [0.893112, 0.93, 0.94, 0.95, 0.964964]
    result = RankResult(cmc=cmc, mAP=0.75, mAP_trapezoid=0.742632, mINP=0.4, num_valid_queries=3368)
    assert result.thesis_line() == "Rank@1:0.893112 Rank@5:0.964964 Rank@10:0.977732 mAP:0.742632"


# ------------------------------------------------- against a plain loop


def reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """The protocol spelled out one query at a time (stable argsort, masks)."""
    cmcs, aps, trapezoid_aps, inps = [], [], [], []
    for query in range(distmat.shape[0]):
        order = np.argsort(distmat[query], kind="stable")
        junk = (g_pids[order] == -1) | (
            (g_pids[order] == q_pids[query]) & (g_camids[order] == q_camids[query])
        )
        order = order[~junk]
        ranks = np.flatnonzero(g_pids[order] == q_pids[query])
        if ranks.size == 0:
            continue
        num_good = ranks.size
        cmc = np.zeros(max_rank)
        cmc[ranks[0]:] = 1.0
        cmcs.append(cmc)
        aps.append(np.mean((np.arange(num_good) + 1) / (ranks + 1)))
        trapezoid = 0.0
        for hit, rank in enumerate(ranks):
            old_precision = hit / rank if rank != 0 else 1.0
            trapezoid += (1.0 / num_good) * (old_precision + (hit + 1) / (rank + 1)) / 2
        trapezoid_aps.append(trapezoid)
        inps.append(num_good / (ranks[-1] + 1))
    return np.mean(cmcs, axis=0), np.mean(aps), np.mean(trapezoid_aps), np.mean(inps), len(aps)


def random_problem(seed, dtype, num_query, num_gallery):
    """Few pids and cameras so matches, junk and distractors are all common;
    rounding the distances makes exact ties frequent."""
    rng = np.random.default_rng(seed)
    g_pids = rng.integers(-1, 15, num_gallery)
    g_camids = rng.integers(1, 7, num_gallery)
    q_pids = rng.integers(1, 15, num_query)
    q_camids = rng.integers(1, 7, num_query)
    distances = rng.standard_normal((num_query, num_gallery)) * 2.0  # some negative
    distances = np.round(distances * rng.choice([3, 20, 1000])).astype(dtype)
    return distances, q_pids, g_pids, q_camids, g_camids


def assert_matches_reference(result, distmat, *labels, max_rank=50):
    cmc, ap, trapezoid_ap, inp, num_valid = reference(distmat, *labels, max_rank=max_rank)
    assert result.num_valid_queries == num_valid
    np.testing.assert_allclose(result.cmc, cmc, rtol=0, atol=1e-12)
    assert result.mAP == pytest.approx(ap, abs=1e-12)
    assert result.mAP_trapezoid == pytest.approx(trapezoid_ap, abs=1e-12)
    assert result.mINP == pytest.approx(inp, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
@pytest.mark.parametrize("seed", range(6))
def test_matches_reference_loop(seed, dtype):
    # 70 queries: two full 32-row chunks and a short last one.
    problem = random_problem(seed, dtype, num_query=70, num_gallery=500)
    result = evaluate_market1501(*problem, max_rank=60, workers=1 + seed % 2)
    assert_matches_reference(result, *problem, max_rank=60)


@pytest.mark.parametrize(
    "dtype, base, step",
    [(np.float64, 1.0, 1e-12), (np.float64, -1e300, 1e285), (np.int64, 2**40, 1)],
)
@pytest.mark.parametrize("seed", range(3))
def test_distances_float32_cannot_tell_apart(dtype, base, step, seed):
    # Distinct (and some equal) distances that all round to one float32 value,
    # or overflow it: they must still be ordered exactly.
    distmat, *labels = random_problem(seed, dtype, num_query=40, num_gallery=300)
    offsets = np.random.default_rng(seed).integers(0, 8, distmat.shape)
    distmat = (dtype(base) + offsets * dtype(step)).astype(dtype)
    assert_matches_reference(evaluate_market1501(distmat, *labels), distmat, *labels)


def test_fortran_order_distmat():
    distmat, *labels = random_problem(3, np.float32, num_query=70, num_gallery=200)
    result = evaluate_market1501(np.asfortranarray(distmat), *labels)
    assert_matches_reference(result, distmat, *labels)


def test_signed_zeros_tie_like_equal_values():
    # -0.0 == +0.0, so they tie and the gallery index decides: neg, good, neg,
    # good -> ranks 1 and 3, AP = (1/2 + 2/4) / 2 = 1/2.
    result = one_query([0.0, -0.0, 0.0, -0.0, 1.0], g_pids=[2, 1, 3, 1, 4], g_camids=[1, 2, 2, 3, 2])
    np.testing.assert_array_equal(result.cmc, expected_cmc(1))
    assert result.mAP == pytest.approx(1 / 2, abs=1e-15)
    float32_result = evaluate_market1501(
        np.array([[0.0, -0.0, 0.0, -0.0, 1.0]], dtype=np.float32),
        np.array([1]), np.array([2, 1, 3, 1, 4]), np.array([1]), np.array([1, 2, 2, 3, 2]),
    )
    assert float32_result.as_dict() == result.as_dict()


def test_nan_on_a_negative_ranks_last_like_argsort():
    problem = random_problem(7, np.float32, num_query=20, num_gallery=200)
    distmat, q_pids, g_pids = problem[:3]
    distmat[g_pids[None, :] != q_pids[:, None]] = np.nan  # every negative and pid -1 junk
    distmat[:, g_pids == -1] = -np.nan  # NaN with the sign bit set
    assert_matches_reference(evaluate_market1501(*problem), *problem)


# ---------------------------------------------------------------- errors


def test_shape_mismatch_raises():
    gallery = np.array([1, 2, 3])
    with pytest.raises(ReidError, match="q_pids"):
        evaluate_market1501(np.zeros((2, 3)), np.array([1, 2, 3]), gallery, np.array([1, 1]), gallery)
    with pytest.raises(ReidError, match="2-D"):
        evaluate_market1501(np.zeros(3), np.array([1]), gallery, np.array([1]), gallery)


def test_no_valid_query_raises():
    with pytest.raises(ReidError, match="no query has a valid gallery match"):
        one_query([0.1, 0.2], g_pids=[1, 2], g_camids=[1, 2])  # its only pid-1 item is same-camera


def test_nan_on_a_good_match_raises():
    with pytest.raises(ReidError, match="NaN"):
        one_query([0.1, np.nan], g_pids=[2, 1], g_camids=[1, 2])


def test_max_rank_below_ten_raises():
    with pytest.raises(ReidError, match="max_rank"):
        one_query([0.1, 0.2], g_pids=[1, 2], g_camids=[2, 2], max_rank=5)
