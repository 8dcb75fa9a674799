"""Time `evaluate_market1501` against the per-query loops it replaces.

Builds a Market-1501-sized problem (3,368 queries x 19,732 gallery by default)
from clustered random features, so the scores look like a trained model's,
then times the fast evaluation, a loop in the style of the thesis's evaluation
code (Person_reID_baseline_pytorch) and a tighter torchreid-style loop, checks
that the scores agree (exactly, against the loop with a stable argsort), and
measures peak RSS of the fast path in a fresh child process.  Everything
follows from --seed.

    python benchmarks/bench_eval.py [--queries 3368 --gallery 19732 --dim 512 --seed 0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import time

import numpy as np

from reid.metrics.rank import evaluate_market1501

# Market-1501 test split proportions.
MARKET_QUERIES = 3368
MARKET_GALLERY = 19732
MARKET_IDS = 750
MARKET_GOOD_IMAGES = 13120
MARKET_DISTRACTORS = 2793
NUM_CAMERAS = 6
FAST_REPEATS = 5
MAX_RANK = 50
# Feature model, tuned so the scores land near the thesis's (Rank@1 ~0.89, mAP ~0.74).
FEATURE_NOISE = 1.25
NOISE_SPREAD = 0.5
CAMERA_SHIFT = 0.62
LOOKALIKE_FRACTION = 0.5
LOOKALIKE_NOISE = 2.2


def build_problem(num_queries, num_gallery, dim, seed):
    """Labels and a float32 cosine distmat shaped like the Market-1501 test split.

    Each id is seen by 2-6 cameras with one query per (id, camera), as in
    Market; its gallery images spread over the same cameras.  Features are an
    id centre plus a camera shift plus noise, so retrieval is good but not
    perfect.  pid -1 junk is partly near real ids (bad crops of real people),
    so removing it matters.
    """
    rng = np.random.default_rng(seed)
    scale = num_gallery / MARKET_GALLERY
    num_ids = max(1, round(MARKET_IDS * num_queries / MARKET_QUERIES))
    num_good = max(num_queries, round(MARKET_GOOD_IMAGES * scale))
    num_distractors = round(MARKET_DISTRACTORS * scale)
    num_junk = num_gallery - num_good - num_distractors
    if not 2 * num_ids <= num_queries <= NUM_CAMERAS * num_ids or num_junk < 0:
        raise SystemExit(f"cannot lay out {num_queries} queries over a {num_gallery}-image gallery")

    cameras_per_id = np.full(num_ids, 2)
    for _ in range(num_queries - 2 * num_ids):
        open_ids = np.flatnonzero(cameras_per_id < NUM_CAMERAS)
        cameras_per_id[rng.choice(open_ids)] += 1
    slot_pid = np.repeat(np.arange(1, num_ids + 1), cameras_per_id)
    slot_cam = np.concatenate(
        [rng.choice(NUM_CAMERAS, size, replace=False) + 1 for size in cameras_per_id]
    )
    # Every (id, camera) slot has its query and at least one gallery image.
    images_per_slot = 1 + np.bincount(
        rng.integers(0, slot_pid.size, num_good - slot_pid.size), minlength=slot_pid.size
    )

    q_pids, q_camids = slot_pid, slot_cam
    g_pids = np.concatenate(
        [np.repeat(slot_pid, images_per_slot), np.zeros(num_distractors, int), np.full(num_junk, -1)]
    )
    g_camids = np.concatenate(
        [np.repeat(slot_cam, images_per_slot), rng.integers(1, NUM_CAMERAS + 1, num_distractors + num_junk)]
    )

    id_centre = _unit(rng.standard_normal((num_ids + 1, dim)))
    camera_shift = _unit(rng.standard_normal((NUM_CAMERAS + 1, dim)))

    def features(pids, camids, noise):
        # Image difficulty varies (pose, occlusion), hence a per-image noise level.
        noise = (noise * rng.lognormal(0.0, NOISE_SPREAD, (pids.size, 1)) / np.sqrt(dim)).astype(np.float32)
        vectors = id_centre[pids] + CAMERA_SHIFT * camera_shift[camids]
        vectors += noise * rng.standard_normal((pids.size, dim), dtype=np.float32)
        return _unit(vectors)

    q_features = features(q_pids, q_camids, FEATURE_NOISE)
    g_features = np.empty((num_gallery, dim), dtype=np.float32)
    identities = g_pids > 0
    g_features[identities] = features(g_pids[identities], g_camids[identities], FEATURE_NOISE)
    # Distractors and junk: people who are not test ids, or bad crops of them.
    outsiders = np.flatnonzero(~identities)
    lookalike = rng.random(outsiders.size) < LOOKALIKE_FRACTION
    g_features[outsiders] = features(
        np.where(lookalike, rng.integers(1, num_ids + 1, outsiders.size), 0),
        g_camids[outsiders],
        np.where(lookalike, LOOKALIKE_NOISE, 4 * FEATURE_NOISE)[:, None],
    )
    # Market's gallery is not grouped by role; shuffle so junk columns are scattered.
    shuffle = rng.permutation(num_gallery)
    g_pids, g_camids, g_features = g_pids[shuffle], g_camids[shuffle], g_features[shuffle]
    return cosine_distmat(q_features, g_features), q_pids, g_pids, q_camids, g_camids


def _unit(vectors):
    vectors = vectors.astype(np.float32, copy=False)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def cosine_distmat(q_features, g_features, rows_per_block=256):
    """1 - cosine similarity in float32, block by block, without big temporaries."""
    distmat = np.empty((len(q_features), len(g_features)), dtype=np.float32)
    for start in range(0, len(q_features), rows_per_block):
        block = distmat[start : start + rows_per_block]
        np.matmul(q_features[start : start + rows_per_block], g_features.T, out=block)
        np.subtract(1.0, block, out=block)
    return distmat


def layumi_style_loop(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=MAX_RANK):
    """The thesis's evaluation (Person_reID_baseline_pytorch evaluate), on distances.

    Per query: argsort the row (the original sorts similarities and reverses),
    find good and junk indices with argwhere / setdiff1d / intersect1d, drop
    junk with an isin mask (the original's np.in1d is np.isin since numpy 2.4),
    then the trapezoid AP loop.  Queries without a good match are skipped and
    the averages divide by the queries kept, as `evaluate_market1501` does.
    """
    cmc_total = np.zeros(distmat.shape[1])
    ap_total = 0.0
    num_valid = 0
    for query in range(distmat.shape[0]):
        index = np.argsort(distmat[query])
        query_index = np.argwhere(g_pids == q_pids[query])
        camera_index = np.argwhere(g_camids == q_camids[query])
        good_index = np.setdiff1d(query_index, camera_index, assume_unique=True)
        junk_index1 = np.argwhere(g_pids == -1)
        junk_index2 = np.intersect1d(query_index, camera_index)
        junk_index = np.append(junk_index2, junk_index1)

        cmc = np.zeros(len(index), dtype=np.int32)
        if good_index.size == 0:
            continue
        index = index[np.isin(index, junk_index, invert=True)]
        ngood = len(good_index)
        rows_good = np.argwhere(np.isin(index, good_index)).flatten()
        cmc[rows_good[0] :] = 1
        ap = 0.0
        for i in range(ngood):
            d_recall = 1.0 / ngood
            precision = (i + 1) * 1.0 / (rows_good[i] + 1)
            old_precision = i * 1.0 / rows_good[i] if rows_good[i] != 0 else 1.0
            ap = ap + d_recall * (old_precision + precision) / 2
        cmc_total += cmc
        ap_total += ap
        num_valid += 1
    return {"cmc": cmc_total[:max_rank] / num_valid, "mAP_trapezoid": ap_total / num_valid}


def torchreid_style_loop(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=MAX_RANK, sort_kind=None):
    """torchreid eval_market1501 done row by row: one argsort, boolean masks.

    Also scores the trapezoid AP so it can check every field; `sort_kind`
    "stable" orders ties by gallery index, as `evaluate_market1501` does.
    """
    all_cmc, all_ap, all_trapezoid_ap, all_inp = [], [], [], []
    for query in range(distmat.shape[0]):
        order = np.argsort(distmat[query], kind=sort_kind)
        ordered_pids = g_pids[order]
        junk = (ordered_pids == -1) | (
            (ordered_pids == q_pids[query]) & (g_camids[order] == q_camids[query])
        )
        matches = ordered_pids[~junk] == q_pids[query]
        if not matches.any():
            continue
        hits = matches.cumsum()
        cmc = np.minimum(hits, 1)
        cmc = np.pad(cmc, (0, max(0, max_rank - cmc.size)), mode="edge")
        all_cmc.append(cmc[:max_rank])
        hit_ranks = np.flatnonzero(matches)
        all_inp.append(hits[hit_ranks[-1]] / (hit_ranks[-1] + 1.0))
        precision = np.arange(1, hit_ranks.size + 1) / (hit_ranks + 1)
        all_ap.append(precision.mean())
        old_precision = np.arange(hit_ranks.size) / np.maximum(hit_ranks, 1)
        old_precision[hit_ranks == 0] = 1.0
        all_trapezoid_ap.append(np.sum((1.0 / hit_ranks.size) * (old_precision + precision) / 2))
    return {
        "cmc": np.mean(all_cmc, axis=0),
        "mAP": np.mean(all_ap),
        "mAP_trapezoid": np.mean(all_trapezoid_ap),
        "mINP": np.mean(all_inp),
    }


def max_abs_diffs(fast, loop):
    """Largest |difference| per score the loop computed."""
    return {
        name: float(np.max(np.abs(np.asarray(getattr(fast, name)) - loop[name])))
        for name in ("cmc", "mAP", "mAP_trapezoid", "mINP")
        if name in loop
    }


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def _rss_mib(field):
    """VmRSS / VmHWM of this process in MiB, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_child(args, queue):
    """Runs in a fresh process: build the problem, evaluate, report memory."""
    problem = build_problem(args.queries, args.gallery, args.dim, args.seed)
    rss_before = _rss_mib("VmRSS")
    try:  # reset the high-water mark so VmHWM covers the evaluation alone
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        evaluation_peak = True
    except OSError:
        evaluation_peak = False
    evaluate_market1501(*problem, max_rank=MAX_RANK)
    queue.put(
        {
            "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
            "rss_before": rss_before,
            "evaluation_peak": _rss_mib("VmHWM") if evaluation_peak else None,
            "distmat": problem[0].nbytes / 2**20,
        }
    )


def measure_peak_rss(args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_peak_rss_child, args=(args, queue))
    child.start()
    memory = queue.get()
    child.join()
    return memory


def _mib(value):
    return "n/a" if value is None else f"{value:.0f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=MARKET_QUERIES)
    parser.add_argument("--gallery", type=int, default=MARKET_GALLERY)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # First, while this process is small: Linux carries the parent's peak RSS
    # over fork and exec into the child's ru_maxrss.
    memory = measure_peak_rss(args)
    problem = build_problem(args.queries, args.gallery, args.dim, args.seed)
    distmat, q_pids, g_pids, q_camids, g_camids = problem
    print(
        f"problem: {distmat.shape[0]} queries x {distmat.shape[1]} gallery, float32 distmat "
        f"{distmat.nbytes / 2**20:.0f} MiB; gallery: {np.sum(g_pids > 0)} test-id images, "
        f"{np.sum(g_pids == 0)} distractors (pid 0), {np.sum(g_pids == -1)} junk (pid -1)"
    )
    print(f"machine: {os.cpu_count()} cores, python {platform.python_version()}, numpy {np.__version__}")

    fast_times = {}
    for workers in (None, 1):
        times = []
        for _ in range(FAST_REPEATS):
            seconds, fast = _timed(evaluate_market1501, *problem, max_rank=MAX_RANK, workers=workers)
            times.append(seconds)
        fast_times[workers] = times
    fast_seconds = statistics.median(fast_times[None])
    layumi_seconds, layumi = _timed(layumi_style_loop, *problem)
    torchreid_seconds, torchreid = _timed(torchreid_style_loop, *problem)
    stable_seconds, stable = _timed(torchreid_style_loop, *problem, sort_kind="stable")

    diffs = {
        "layumi-style loop": max_abs_diffs(fast, layumi),
        "torchreid-style loop": max_abs_diffs(fast, torchreid),
        "torchreid-style loop, stable argsort": max_abs_diffs(fast, stable),
    }
    exact = max(diffs["torchreid-style loop, stable argsort"].values())
    loose = max(max(d.values()) for d in diffs.values())

    print(f"scores: {fast.thesis_line()} | mAP(standard):{fast.mAP:.6f} mINP:{fast.mINP:.6f}")
    for workers, times in fast_times.items():
        label = f"evaluate_market1501 (workers={workers or os.cpu_count()})"
        print(
            f"{label:<40} {statistics.median(times) * 1e3:9.1f} ms  "
            f"(median of {len(times)}, min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f})"
        )
    for label, seconds in (
        ("layumi-style loop (thesis code)", layumi_seconds),
        ("torchreid-style loop", torchreid_seconds),
        ("torchreid-style loop, stable argsort", stable_seconds),
    ):
        print(f"{label:<40} {seconds * 1e3:9.1f} ms  -> fast is {seconds / fast_seconds:6.1f}x faster")
    for label, diff in diffs.items():
        print(f"max |diff| vs {label}: " + ", ".join(f"{k} {v:.1e}" for k, v in diff.items()))
    print(
        "(the loops' default np.argsort is not stable, so exactly tied float32 distances may be "
        "ordered differently from evaluate_market1501's tie-by-gallery-index; the stable loop is exact)"
    )
    print(
        f"peak RSS, child process: ru_maxrss {_mib(memory['ru_maxrss'])} (whole process, incl. the "
        f"{_mib(memory['distmat'])} distmat and building it); during evaluation "
        f"{_mib(memory['evaluation_peak'])}, from {_mib(memory['rss_before'])} resident before"
    )

    print()
    print("--- README block ---")
    print(
        f"Market-1501-shaped evaluation, {distmat.shape[0]} x {distmat.shape[1]} float32 distmat "
        f"(synthetic, seed {args.seed}), {os.cpu_count()} cores:"
    )
    print("| evaluation | wall time | time / evaluate_market1501 (default threads) |")
    print("|---|---:|---:|")
    for workers, times in fast_times.items():
        threads = workers or os.cpu_count()
        print(f"| evaluate_market1501, {threads} thread(s) | {statistics.median(times) * 1e3:.0f} ms | |")
    print(f"| layumi-style loop (thesis code) | {layumi_seconds:.2f} s | {layumi_seconds / fast_seconds:.0f}x |")
    print(f"| torchreid-style loop | {torchreid_seconds:.2f} s | {torchreid_seconds / fast_seconds:.0f}x |")
    print(
        f"Peak RSS {_mib(memory['ru_maxrss'])} incl. the {_mib(memory['distmat'])} distmat; "
        f"scores identical to a stable-argsort loop (max abs diff {exact:.1e}), "
        f"to the unstable loops within {loose:.1e}."
    )


if __name__ == "__main__":
    main()
