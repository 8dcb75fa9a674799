"""Stage `calibrate_filters`: real training images -> detector rejection curve (Fig 5.3), SSIM histogram (Fig 5.4)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from reid.config import from_section
from reid.data.index import read_index
from reid.errors import ReidError
from reid.filters.calibration import rejection_curve, threshold_for_rejection
from reid.filters.quality import AUTO
from reid.filters.screen import FilterConfig, detector_scores, real_ssim_per_person
from reid.io import atomic_write_json
from reid.pipeline.common import run_settings, write_tsv


def run_calibration(values: dict, run: dict, data: Path, metrics_dir: Path, progress: bool = True) -> dict:
    """Score the real training images and find the detector threshold.

    The largest threshold that rejects at most `filter.target_rejection` of the real
    images goes to calibration.json as `suggested_threshold`, which the filter and
    evaluate_gan stages use when `filter.detector.threshold` is `auto`; by the same
    rule on the SSIM of real images of one person, `suggested_ssim_threshold` for
    `filter.ssim.threshold: auto` (filter and invert).
    """
    config = from_section(FilterConfig, values, "filter")
    settings = run_settings(run)
    index = read_index(data)
    train = index[index.split == "train"].sort_values("path")
    if train.empty:
        raise ReidError(f"{data}: the index has no training images to calibrate the filters on")
    detector = config.detector.load()
    scores = detector_scores([Path(p) for p in train.path], detector, settings.filter_batch, progress)
    thresholds = np.unique(np.round(np.linspace(scores.min(), scores.max(), 101), 4))
    curve = pd.DataFrame({"threshold": thresholds, "rejected_pct": rejection_curve(scores, thresholds)})
    similarities = real_ssim_per_person(train, progress)
    counts, edges = np.histogram(similarities, bins=50, range=(0.0, 1.0))
    histogram = pd.DataFrame({"ssim": (edges[:-1] + edges[1:]) / 2, "images": counts})
    suggested = _rounded_down(threshold_for_rejection(scores, config.target_rejection))
    threshold = suggested if config.detector.threshold == AUTO else config.detector.threshold
    suggested_ssim = _rounded_down(threshold_for_rejection(similarities, config.target_rejection)) \
        if len(similarities) else None
    ssim_threshold = suggested_ssim if config.ssim.threshold == AUTO else config.ssim.threshold
    summary = {
        "detector": detector.name,
        "real_images": len(train),
        "target_rejection": config.target_rejection,
        "suggested_threshold": suggested,
        "threshold": threshold,
        "rejected_pct_at_threshold": round(100 * float(np.mean(scores < threshold)), 2),
        "real_ssim_pairs": len(similarities),
        "real_ssim_median": round(float(np.median(similarities)), 4) if len(similarities) else None,
        "suggested_ssim_threshold": suggested_ssim,
        "ssim_threshold": ssim_threshold,
        "real_ssim_below_threshold_pct": round(100 * float(np.mean(similarities < ssim_threshold)), 2)
        if len(similarities) and ssim_threshold is not None else None,
    }
    write_tsv(metrics_dir / "detector_calibration.tsv", curve)
    write_tsv(metrics_dir / "ssim_real.tsv", histogram)
    atomic_write_json(metrics_dir / "calibration.json", summary)
    print(f"{detector.name}: threshold {summary['suggested_threshold']} rejects at most "
          f"{100 * config.target_rejection:.2f}% of {len(train)} real images; params threshold "
          f"{threshold} rejects {summary['rejected_pct_at_threshold']}%")
    print(f"SSIM to a person's first image: threshold {suggested_ssim} rejects at most "
          f"{100 * config.target_rejection:.2f}% of {len(similarities)} real same-person pairs (median "
          f"{summary['real_ssim_median']}); params threshold {ssim_threshold} rejects "
          f"{summary['real_ssim_below_threshold_pct']}%")
    return summary


def _rounded_down(threshold: float) -> float:
    """4 decimals for the metrics file, rounded down so that the threshold rejects no more images."""
    return math.floor(threshold * 1e4) / 1e4
