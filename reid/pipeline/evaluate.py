"""Stage `evaluate`: model + query/gallery -> eval.json, cmc.tsv and the thesis line."""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.index import read_index
from reid.engine.evaluate import EvalConfig, evaluate_reid
from reid.io import atomic_write_json
from reid.pipeline.common import run_settings, write_tsv


def run_evaluation(values: dict, run: dict, data: Path, model_path: Path, metrics_dir: Path,
                   progress: bool = True) -> dict:
    """Score the model on query/gallery; print the thesis line, write eval.json and cmc.tsv."""
    settings = run_settings(run)
    evaluation = evaluate_reid(read_index(data), model_path, from_section(EvalConfig, values, "eval"),
                               settings.device, settings.batch, progress)
    metrics = evaluation.metrics()
    atomic_write_json(metrics_dir / "eval.json", metrics)
    write_tsv(metrics_dir / "cmc.tsv", evaluation.cmc_table())
    print(metrics["thesis_line"])
    if evaluation.raw_pixel is not None:
        print(f"raw-pixel baseline: {evaluation.raw_pixel.thesis_line()}")
    return metrics
