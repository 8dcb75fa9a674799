"""Stage `filter`: params `filter` + data/generated -> data/filtered (scores.csv with verdicts, example sheets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.config import from_section
from reid.data.generated import KEPT, SCORES, read_manifest
from reid.filters.quality import CALIBRATION_FILE, resolve_ssim_threshold, resolve_threshold
from reid.filters.screen import (VERDICTS, FilterConfig, decide, discard_counts, discard_table, read_person_image,
                                 score_images)
from reid.io import atomic_dir, atomic_write_json
from reid.pipeline.common import run_settings, write_tsv
from reid.viz.grid import save_grid


def _example_sheet(folder: Path, files: list[str], count: int) -> np.ndarray | None:
    """Up to `count` images spread evenly over `files` (None when there are none)."""
    if not files:
        return None
    picks = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    return np.stack([read_person_image(folder / files[i]) for i in picks])


def run_filter(values: dict, run: dict, generated: Path, output: Path, metrics_dir: Path | None,
               calibration: Path = CALIBRATION_FILE, progress: bool = True) -> dict:
    """Screen a generated folder and write `output`: scores.csv (a verdict per image) and example sheets.

    The images stay where `generate` put them: scores.csv lists them (its
    `file` column relative to `generated`) and `assemble` reads the kept ones
    from there, so nothing is copied. A detector or SSIM threshold `auto` is read from `calibration`
    (calibrate_filters' output on the real images). Writes metrics/filter.json and the discard
    table metrics/filter_table.tsv when `metrics_dir` is given.
    """
    config = from_section(FilterConfig, values, "filter")
    settings = run_settings(run)
    manifest = read_manifest(generated)
    threshold = resolve_threshold(config.detector.threshold, config.detector.backend, calibration)
    ssim_threshold = resolve_ssim_threshold(config.ssim.threshold, calibration)
    detector = config.detector.load()
    scored = score_images(generated, manifest, detector, settings.filter_batch, progress)
    scored["verdict"] = decide(scored, threshold.value, ssim_threshold.value)
    table = discard_table(scored.verdict, f"{detector.name} pedestrian detection (score < {threshold.value:g})")
    with atomic_dir(output) as tmp:
        scored.to_csv(tmp / SCORES, index=False, float_format="%.6f")
        for verdict in VERDICTS:
            sheet = _example_sheet(generated, list(scored.file[scored.verdict == verdict]), config.grid)
            if sheet is not None:
                save_grid(sheet, tmp / f"{verdict}.png", 12)
    summary = {
        "detector": detector.name,
        "detector_threshold": threshold.value,
        "detector_threshold_source": threshold.source,
        "ssim_threshold": ssim_threshold.value,
        "ssim_threshold_source": ssim_threshold.source,
        "generated": len(scored),
        "kept": int((scored.verdict == KEPT).sum()),
        **discard_counts(table),
        "kept_persons": int(scored.pid[scored.verdict == KEPT].nunique()),
    }
    if metrics_dir is not None:
        atomic_write_json(metrics_dir / "filter.json", summary)
        write_tsv(metrics_dir / "filter_table.tsv", table)
    print(f"detector threshold {threshold.value:g} ({threshold.source}); "
          f"SSIM threshold {ssim_threshold.value:g} ({ssim_threshold.source})")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"kept {summary['kept']} of {summary['generated']} images (verdicts in {output / SCORES})")
    return summary
