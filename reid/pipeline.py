"""The pipeline steps as the DVC stages and the CLI both run them.

Each step takes its params section as a dict, does the work through the
library and writes its outputs atomically, so `dvc repro` and `reid <step>`
produce the same files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reid.config import from_section
from reid.data.prepare import PrepareConfig, prepare_dataset, read_index
from reid.engine.evaluate import EvalConfig, evaluate_reid
from reid.engine.train import TrainConfig, save_model, train_reid
from reid.io import atomic_write_json, atomic_write_text

SPLIT_ORDER = ("train", "val", "query", "gallery")


def _write_tsv(path: Path, table: pd.DataFrame) -> None:
    atomic_write_text(path, table.to_csv(sep="\t", index=False, float_format="%.6f"))


def run_prepare(values: dict, output: Path, progress: bool = True) -> dict:
    """Build the prepared data folder; returns image counts per split."""
    index = prepare_dataset(from_section(PrepareConfig, values, "data"), output, progress)
    counts = index.split.value_counts()
    summary = {split: int(counts.get(split, 0)) for split in SPLIT_ORDER}
    print(f"prepared {output}: " + ", ".join(f"{n} {split}" for split, n in summary.items()))
    return summary


def run_training(values: dict, data: Path, model_path: Path, checkpoints: Path, metrics_dir: Path,
                 progress: bool = True) -> dict:
    """Train, writing the per-epoch curves after every epoch and a summary at the end."""
    config = from_section(TrainConfig, values, "reid")
    index = read_index(data)
    log_path = metrics_dir / "train_log.tsv"
    result = train_reid(
        index[index.split == "train"],
        index[index.split == "val"],
        config,
        checkpoints,
        progress,
        on_epoch=lambda history: _write_tsv(log_path, pd.DataFrame(history)),
    )
    _write_tsv(log_path, pd.DataFrame(result.history))  # also when a resume found training complete
    save_model(result, config, model_path)
    last = result.history[-1]
    summary = {
        **result.info,
        "epochs": config.epochs,
        "train_images": int((index.split == "train").sum()),
        "final_train_loss": last["train_loss"],
        "final_val_loss": last["val_loss"],
        "final_val_top1_err": last["val_top1_err"],
        "train_seconds": round(sum(h["seconds"] for h in result.history), 1),
    }
    atomic_write_json(metrics_dir / "train.json", summary)
    print(f"trained {config.arch} for {config.epochs} epochs: val top-1 error {last['val_top1_err']:.4f}")
    return summary


def run_evaluation(values: dict, data: Path, model_path: Path, metrics_dir: Path, progress: bool = True) -> dict:
    """Score the model on query/gallery; print the thesis line, write eval.json and cmc.tsv."""
    evaluation = evaluate_reid(read_index(data), model_path, from_section(EvalConfig, values, "eval"), progress)
    metrics = evaluation.metrics()
    atomic_write_json(metrics_dir / "eval.json", metrics)
    _write_tsv(metrics_dir / "cmc.tsv", evaluation.cmc_table())
    print(metrics["thesis_line"])
    if evaluation.raw_pixel is not None:
        print(f"raw-pixel baseline: {evaluation.raw_pixel.thesis_line()}")
    return metrics
