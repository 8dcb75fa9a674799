"""Stage `train_reid`: params `reid` + prepared data -> model, per-epoch curves, train.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from reid.config import from_section
from reid.data.index import read_index
from reid.engine.train import TrainConfig, train_reid
from reid.io import atomic_write_json
from reid.models.baseline import save_model
from reid.pipeline.common import resume_key, run_settings, write_tsv


def run_training(values: dict, run: dict, data: Path, model_path: Path, checkpoints: Path, metrics_dir: Path,
                 progress: bool = True) -> dict:
    """Train, writing the per-epoch curves after every epoch and a summary at the end."""
    config = from_section(TrainConfig, values, "reid")
    settings = run_settings(run)
    index = read_index(data)
    train, val = index[index.split == "train"], index[index.split == "val"]
    key = resume_key(dataclasses.asdict(config), __name__, list(train.path), list(train.pid), config.pretrained)
    log_path = metrics_dir / "train_log.tsv"
    result = train_reid(
        train, val, config, checkpoints, key, settings.device, settings.checkpoint_every, progress,
        on_epoch=lambda history: write_tsv(log_path, pd.DataFrame(history)),
    )
    write_tsv(log_path, pd.DataFrame(result.history))  # also when the checkpoint was already complete
    save_model(result.model, dataclasses.asdict(config), result.classes, result.info, model_path)
    last = result.history[-1]
    summary = {
        **result.info,
        "epochs": config.epochs,
        "train_images": len(train),
        "final_train_loss": last["train_loss"],
        "final_val_loss": last["val_loss"],
        "final_val_top1_err": last["val_top1_err"],
        "train_seconds": round(sum(h["seconds"] for h in result.history), 1),
    }
    atomic_write_json(metrics_dir / "train.json", summary)
    print(f"trained {config.arch} for {config.epochs} epochs ({result.info['run']} run): "
          f"val top-1 error {last['val_top1_err']:.4f}")
    return summary
