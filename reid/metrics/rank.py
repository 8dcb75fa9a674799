"""CMC, mAP and mINP under the Market-1501 protocol, without sorting whole rows.

A query only needs the rank of each of its good matches, and the rank of a
good match is the number of non-junk gallery items ordered before it.  Every
such item is at most as far as the query's worst good match, so per query we
keep only those "candidates" (a few percent of the gallery for a trained
model), sort them under a packed int64 key (row, distance as float32 bits,
gallery index) and find each good match's position with a binary search.
The distance matrix is read once, by one comparison, in chunks of rows that
threads share, so memory stays bounded and nothing is copied to float64.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from reid.device import usable_cores
from reid.errors import ReidError

__all__ = ["RankResult", "evaluate_market1501"]

# Rows per chunk: enough to amortise the per-chunk numpy calls, few enough
# that the chunk's mask stays in L2 cache.
_CHUNK_ROWS = 32
# Rank@10 is always reported, so the CMC must reach it.
_MIN_MAX_RANK = 10


@dataclass(frozen=True)
class RankResult:
    """Re-ID retrieval scores over the queries that have a good match.

    `cmc[k]` is the fraction of those queries whose first good match is at
    0-based rank <= k.  `mAP` is the standard non-interpolated AP (torchreid,
    fast-reid); `mAP_trapezoid` is the Person_reID_baseline_pytorch AP, which
    averages the precision just before and at each hit and is what the thesis
    reports; `mINP` is torchreid's mean inverse negative penalty.
    """

    cmc: np.ndarray
    mAP: float
    mAP_trapezoid: float
    mINP: float
    num_valid_queries: int

    def rank(self, k: int) -> float:
        """Rank@k (1-based), the CMC value papers quote."""
        if not 1 <= k <= len(self.cmc):
            raise ReidError(f"Rank@{k} is outside the computed CMC (max_rank={len(self.cmc)})")
        return float(self.cmc[k - 1])

    @property
    def rank1(self) -> float:
        return self.rank(1)

    @property
    def rank5(self) -> float:
        return self.rank(5)

    @property
    def rank10(self) -> float:
        return self.rank(10)

    def as_dict(self) -> dict:
        """Plain floats and lists, so the result can go straight into JSON."""
        return {
            "rank1": self.rank1,
            "rank5": self.rank5,
            "rank10": self.rank10,
            "mAP": float(self.mAP),
            "mAP_trapezoid": float(self.mAP_trapezoid),
            "mINP": float(self.mINP),
            "num_valid_queries": int(self.num_valid_queries),
            "cmc": [float(value) for value in self.cmc],
        }

    def thesis_line(self) -> str:
        """The summary line exactly as the thesis printed it (trapezoid mAP)."""
        return (
            f"Rank@1:{self.rank1:f} Rank@5:{self.rank5:f} "
            f"Rank@10:{self.rank10:f} mAP:{self.mAP_trapezoid:f}"
        )


def evaluate_market1501(
    distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, *, workers=None
) -> RankResult:
    """Score a query x gallery distance matrix (lower = more similar).

    Protocol (Market-1501): for each query, gallery items with its pid and its
    camera are junk, and gallery items with pid -1 are junk for every query;
    junk is removed before ranking.  Distractors (pid 0) stay as ordinary
    negatives.  Good matches have the query's pid and another camera.
    Queries without a good match are skipped, as in torchreid, and the scores
    average over the `num_valid_queries` others.

    Ordering is ascending distance with exact ties broken by gallery index,
    i.e. what a stable argsort of the row gives.  NaN distances rank after
    every number (np.argsort puts them last too); a NaN on a good match is an
    error.  If `max_rank` exceeds the gallery left after junk removal, the CMC
    still has `max_rank` entries and stays at its last value.

    `workers` threads share the chunks of rows (default: one per usable core).
    """
    distmat, q_pids, g_pids, q_camids, g_camids = _validated(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank
    )
    if workers is not None and workers < 1:
        raise ReidError(f"workers must be at least 1, got {workers}")
    num_query, num_gallery = distmat.shape
    layout = _KeyLayout.for_gallery(num_gallery)

    goods, junk = _same_identity_pairs(q_pids, g_pids, q_camids, g_camids)
    if goods.query.size == 0:
        raise ReidError(
            "no query has a valid gallery match (same pid, different camera); "
            "check that query and gallery pids/camids come from the same split"
        )
    good_dist = distmat[goods.query, goods.col]
    if np.issubdtype(good_dist.dtype, np.floating) and np.isnan(good_dist).any():
        raise ReidError("distmat has NaN distances on good matches; check the features")

    # Worst good distance per query: nothing beyond it can precede a good match.
    worst_good = _lowest_values(distmat.dtype, num_query)
    group_start = np.flatnonzero(np.r_[True, goods.query[1:] != goods.query[:-1]])
    worst_good[goods.query[group_start]] = np.maximum.reduceat(good_dist, group_start)
    kept_col = g_pids != -1

    chunk_starts = range(0, num_query, _CHUNK_ROWS)
    good_rank = np.empty(goods.query.size, dtype=np.int64)

    def rank_chunks(chunk_ids):
        mask_buffer = np.empty(_padded_to_words(_CHUNK_ROWS * num_gallery), dtype=bool)
        for chunk in chunk_ids:
            rows = slice(chunk_starts[chunk], chunk_starts[chunk] + _CHUNK_ROWS)
            chunk_goods, slots = goods.rows(rows)
            if chunk_goods.query.size:
                # A view for the usual C-order matrix; other layouts copy one chunk.
                block = np.ascontiguousarray(distmat[rows])
                chunk_junk, _ = junk.rows(rows)
                flat = _candidate_flat_indices(block, worst_good[rows], kept_col, chunk_junk, mask_buffer)
                good_rank[slots] = _ranks_in_chunk(block, flat, layout, chunk_goods, good_dist[slots])

    workers = min(workers or usable_cores(), len(chunk_starts))
    # numpy releases the GIL in the heavy calls, so threads run in parallel.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(rank_chunks, [range(w, len(chunk_starts), workers) for w in range(workers)]))
    return _scores(goods.query, good_rank, num_query, num_gallery, max_rank)


def _validated(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Arrays with checked shapes and dtypes, or one clear ReidError line."""
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ReidError(f"distmat must be 2-D (queries x gallery), got shape {distmat.shape}")
    if not (np.issubdtype(distmat.dtype, np.floating) or np.issubdtype(distmat.dtype, np.integer)):
        raise ReidError(f"distmat must hold real numbers, got dtype {distmat.dtype}")
    num_query, num_gallery = distmat.shape
    labels = []
    for name, values, expected in (
        ("q_pids", q_pids, num_query),
        ("g_pids", g_pids, num_gallery),
        ("q_camids", q_camids, num_query),
        ("g_camids", g_camids, num_gallery),
    ):
        values = np.asarray(values)
        if values.shape != (expected,):
            raise ReidError(
                f"{name} has shape {values.shape} but distmat {distmat.shape} needs ({expected},)"
            )
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ReidError(f"{name} must be integers, got dtype {values.dtype}")
        labels.append(values.astype(np.int64, copy=False))
    if not isinstance(max_rank, (int, np.integer)) or max_rank < _MIN_MAX_RANK:
        raise ReidError(f"max_rank must be an integer >= {_MIN_MAX_RANK}, got {max_rank!r}")
    return (distmat, *labels)


@dataclass(frozen=True)
class _Pairs:
    """(query row, gallery column) pairs sorted by row, then column."""

    query: np.ndarray
    col: np.ndarray

    def rows(self, rows: slice):
        """The pairs of a block of rows, renumbered from 0, and where they sit in self."""
        lo, hi = np.searchsorted(self.query, [rows.start, rows.stop])
        return _Pairs(self.query[lo:hi] - rows.start, self.col[lo:hi]), slice(lo, hi)


def _same_identity_pairs(q_pids, g_pids, q_camids, g_camids):
    """Each query's good matches and its same-camera junk.

    Grouping the gallery by pid once makes this cost the number of such
    pairs (~17 per query on Market) instead of queries x gallery.
    """
    by_pid = np.argsort(g_pids, kind="stable")
    sorted_pids = g_pids[by_pid]
    first = np.searchsorted(sorted_pids, q_pids, side="left")
    last = np.searchsorted(sorted_pids, q_pids, side="right")
    # pid -1 items are junk for everyone, never a query's good or own junk.
    last[q_pids == -1] = first[q_pids == -1]

    counts = last - first
    query = np.repeat(np.arange(q_pids.size), counts)
    col = by_pid[_concatenated_ranges(first, counts)]
    good = g_camids[col] != q_camids[query]
    return _Pairs(query[good], col[good]), _Pairs(query[~good], col[~good])


def _concatenated_ranges(starts, sizes):
    """arange(start, start + size) for each pair, end to end."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if ends.size else 0) + np.repeat(starts - (ends - sizes), sizes)


def _lowest_values(dtype, size):
    """Thresholds that admit (almost) no candidate, for queries without goods."""
    lowest = -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min
    return np.full(size, lowest, dtype=dtype)


def _padded_to_words(size):
    return -(-size // 8) * 8


def _candidate_flat_indices(block, worst_good, kept_col, junk, mask_buffer):
    """row * num_gallery + col of the non-junk items at most as far as the row's worst good."""
    mask = mask_buffer[: block.size].reshape(block.shape)
    np.less_equal(block, worst_good[:, None], out=mask)
    np.logical_and(mask, kept_col, out=mask)
    mask[junk.query, junk.col] = False
    # np.flatnonzero crawls byte by byte at a few percent density, so find the
    # 8-byte words holding a hit first, then the hits inside those words.
    padded_size = _padded_to_words(block.size)
    mask_buffer[block.size : padded_size] = False
    words = mask_buffer[:padded_size].view(np.uint64)
    hit_words = np.flatnonzero(words != 0)
    hit_bytes = np.flatnonzero(words[hit_words].view(bool))
    flat = hit_words[hit_bytes >> 3]
    flat <<= 3
    hit_bytes &= 7
    flat |= hit_bytes
    return flat


def _ranks_in_chunk(block, flat, layout, goods, good_dist):
    """0-based rank among the non-junk items of each good match in a block of rows."""
    num_rows, num_gallery = block.shape
    row_start = np.searchsorted(flat, np.arange(num_rows + 1) * num_gallery)
    row_offset = layout.row_offsets(num_rows)

    keys = _float32_codes(_as_float32(np.take(block.reshape(-1), flat), copy=False))
    keys <<= layout.col_bits
    keys += flat
    keys += np.repeat(row_offset, np.diff(row_start))
    keys.sort()

    # The good's key with col 0: the first key its (row, code) can have.
    good_codes = _float32_codes(_as_float32(good_dist, copy=True))
    code_floor = (good_codes << layout.col_bits) + (goods.query * num_gallery + row_offset[goods.query])
    position = np.searchsorted(keys, code_floor + goods.col)
    # Keys are grouped by row, so the position minus the row's start counts
    # the candidates ordered before the good match.
    rank = position - row_start[goods.query]
    if not np.can_cast(block.dtype, np.float32):
        rank += _code_tie_correction(block, keys, layout, goods, good_dist, code_floor, position)
    return rank


def _code_tie_correction(block, keys, layout, goods, good_dist, code_floor, position):
    """Fix ranks where different distances rounded to the same float32 code.

    Inside such a group the keys order by column; recount it by distance,
    then column.  Groups beyond the good itself are rare for real distances.
    """
    group_start = np.searchsorted(keys, code_floor)
    group_size = np.searchsorted(keys, code_floor + (1 << layout.col_bits)) - group_start
    correction = np.zeros(goods.query.size, dtype=np.int64)
    shared = np.flatnonzero(group_size > 1)
    if shared.size == 0:
        return correction
    sizes = group_size[shared]
    owner = np.repeat(shared, sizes)
    member = _concatenated_ranges(group_start[shared], sizes)
    member_col = keys[member] & ((1 << layout.col_bits) - 1)
    member_dist = block[goods.query[owner], member_col]
    precedes = (member_dist < good_dist[owner]) | (
        (member_dist == good_dist[owner]) & (member_col < goods.col[owner])
    )
    by_distance = np.bincount(owner, weights=precedes, minlength=goods.query.size).astype(np.int64)
    by_key = position - group_start
    correction[shared] = by_distance[shared] - by_key[shared]
    return correction


@dataclass(frozen=True)
class _KeyLayout:
    """Packs (row, float32 code, col) into one non-negative int64, in that order.

    key = row << row_shift | (code + 2**31) << col_bits | col, built as
    (code << col_bits) + flat index + a per-row offset, because the flat
    index row * num_gallery + col is what the candidate search yields.
    """

    num_gallery: int
    col_bits: int
    row_shift: int

    @classmethod
    def for_gallery(cls, num_gallery):
        col_bits = max(1, int(num_gallery - 1).bit_length())
        row_shift = 32 + col_bits
        if row_shift + _CHUNK_ROWS.bit_length() > 63:
            raise ReidError(f"a gallery of {num_gallery} items is too large for the packed ranking key")
        return cls(num_gallery, col_bits, row_shift)

    def row_offsets(self, num_rows):
        """Per row, what turns (code << col_bits) + flat index into the key."""
        rows = np.arange(num_rows, dtype=np.int64)
        return (rows << self.row_shift) + (1 << (31 + self.col_bits)) - rows * self.num_gallery


def _as_float32(values, copy):
    with np.errstate(over="ignore"):  # beyond float32's range is +-inf: order kept
        return values.astype(np.float32, copy=copy)


def _float32_codes(values):
    """int64 codes in the order of `values` (float32, overwritten).

    A float's bits read as a signed integer already sort non-negative floats;
    negative ones sort backwards, so their magnitude bits are flipped.
    Distances of wider types arrive rounded to float32, which keeps their
    order but may merge neighbours (see _code_tie_correction).
    """
    values += 0  # -0.0 becomes +0.0: they compare equal, so they share a code
    as_int = values.view(np.int32)
    as_int ^= (as_int >> 31) & np.int32(0x7FFFFFFF)
    return as_int.astype(np.int64)


def _scores(good_query, good_rank, num_query, num_gallery, max_rank):
    """CMC, both APs and INP from the ranks of every query's good matches."""
    # Each query's good ranks ascending; queries stay in order.
    order = np.argsort(good_query * np.int64(num_gallery + 1) + good_rank)
    query = good_query[order]
    rank = good_rank[order]

    num_good = np.bincount(query, minlength=num_query)
    valid = num_good > 0
    num_valid = int(valid.sum())
    group_start = np.cumsum(num_good) - num_good
    hit = np.arange(rank.size) - group_start[query]  # 0-based index of the hit

    precision = (hit + 1) / (rank + 1)
    ap = np.bincount(query, weights=precision, minlength=num_query)[valid] / num_good[valid]
    # Person_reID_baseline_pytorch averages the precision just before and at
    # each hit; before the first item it counts as 1.
    previous_precision = np.where(rank == 0, 1.0, hit / np.maximum(rank, 1))
    trapezoid_terms = (1.0 / num_good[query]) * (previous_precision + precision) / 2
    ap_trapezoid = np.bincount(query, weights=trapezoid_terms, minlength=num_query)[valid]

    first_rank = rank[group_start[valid]]
    last_rank = rank[group_start[valid] + num_good[valid] - 1]
    inp = num_good[valid] / (last_rank + 1)

    first_hits = np.bincount(np.minimum(first_rank, max_rank), minlength=max_rank + 1)
    cmc = np.cumsum(first_hits[:max_rank]) / num_valid
    cmc.flags.writeable = False
    return RankResult(
        cmc=cmc,
        mAP=float(ap.mean()),
        mAP_trapezoid=float(ap_trapezoid.mean()),
        mINP=float(inp.mean()),
        num_valid_queries=num_valid,
    )
