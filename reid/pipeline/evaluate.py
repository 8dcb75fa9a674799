"""Stages `evaluate` and `evaluate_augmented`: model + query/gallery -> <prefix>eval.json, <prefix>cmc.tsv, thesis line."""

from __future__ import annotations

import json
from pathlib import Path

from reid.config import from_section
from reid.data.index import read_index
from reid.engine.evaluate import EvalConfig, evaluate_reid
from reid.errors import ReidError
from reid.io import atomic_write_json
from reid.pipeline.common import run_settings, write_tsv

COMPARED = ("rank1", "rank5", "rank10", "mAP", "mAP_trapezoid", "mINP")


def difference(metrics: dict, baseline_path: Path) -> dict:
    """This model's metrics minus the baseline's (a positive number: the augmented model is better)."""
    if not baseline_path.is_file():
        raise ReidError(f"{baseline_path}: baseline metrics not found; run the evaluate stage first")
    baseline = json.loads(baseline_path.read_text())
    return {key: metrics[key] - baseline[key] for key in COMPARED}


def run_evaluation(values: dict, run: dict, data: Path, model_path: Path, metrics_dir: Path,
                   progress: bool = True, prefix: str = "", baseline: Path | None = None) -> dict:
    """Score the model on query/gallery; print the thesis line, write <prefix>eval.json and <prefix>cmc.tsv.

    With `baseline` (another eval.json), the JSON also holds the difference to it under `vs_baseline`.
    """
    settings = run_settings(run)
    evaluation = evaluate_reid(read_index(data), model_path, from_section(EvalConfig, values, "eval"),
                               settings.device, settings.batch, progress)
    metrics = evaluation.metrics()
    if baseline is not None:
        metrics["vs_baseline"] = difference(metrics, baseline)
    atomic_write_json(metrics_dir / f"{prefix}eval.json", metrics)
    write_tsv(metrics_dir / f"{prefix}cmc.tsv", evaluation.cmc_table())
    print(metrics["thesis_line"])
    if evaluation.raw_pixel is not None:
        print(f"raw-pixel baseline: {evaluation.raw_pixel.thesis_line()}")
    if baseline is not None:
        print("vs baseline: " + " ".join(f"{k} {v:+.4f}" for k, v in metrics["vs_baseline"].items()))
    return metrics
