"""Stage `train_reid`: params `reid` + prepared data -> model, per-epoch curves (TSV + PNG), train.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from reid.config import from_section
from reid.data.index import read_index
from reid.engine.train import TrainConfig, train_reid
from reid.io import atomic_write_json
from reid.models.baseline import init_label, pretrained_file, save_model
from reid.pipeline.common import RunSettings, resume_key, run_settings, write_tsv
from reid.viz.curves import save_training_curves


@dataclasses.dataclass(frozen=True)
class TrainOutputs:
    """Where a training stage writes: model, per-epoch TSV, curves PNG, summary JSON."""

    model: Path
    log: Path
    curves: Path
    summary: Path

    @classmethod
    def named(cls, model: Path, metrics_dir: Path, prefix: str = "") -> "TrainOutputs":
        return cls(model, metrics_dir / f"{prefix}train_log.tsv", metrics_dir / f"{prefix}train_curves.png",
                   metrics_dir / f"{prefix}train.json")


def write_curves(history: pd.DataFrame, outputs: TrainOutputs, title: str) -> None:
    write_tsv(outputs.log, history)
    save_training_curves({title: history}, outputs.curves)


def train_and_record(config: TrainConfig, settings: RunSettings, train: pd.DataFrame, val: pd.DataFrame,
                     stage_module: str, checkpoints: Path, outputs: TrainOutputs, title: str,
                     progress: bool = True, extra: dict | None = None, synthetic_model: Path | None = None) -> dict:
    """Train (resuming a checkpoint of the same key), writing the curves after every epoch and a summary at the end.

    `synthetic_model` is the file `pretrained: synthetic` names (the pretrain stage's model).
    """
    uniform = list(train["uniform"]) if "uniform" in train.columns else [False] * len(train)
    labels = [f"{pid}{'~uniform' if u else ''}" for pid, u in zip(train.pid, uniform)]
    weights = pretrained_file(config.pretrained, synthetic_model)
    key = resume_key(dataclasses.asdict(config), stage_module, list(train.path), labels, str(weights or ""))
    result = train_reid(
        train, val, config, checkpoints, key, settings.device, settings.checkpoint_every, progress,
        on_epoch=lambda history: write_tsv(outputs.log, pd.DataFrame(history)), synthetic_model=synthetic_model,
    )
    write_curves(pd.DataFrame(result.history), outputs, title)  # also when the checkpoint was already complete
    save_model(result.model, dataclasses.asdict(config), result.classes, result.info, outputs.model)
    last = result.history[-1]
    summary = {
        **result.info,
        "init": init_label(config.pretrained),
        "epochs": config.epochs,
        "train_images": len(train),
        "final_train_loss": last["train_loss"],
        "final_val_loss": last["val_loss"],
        "final_val_top1_err": last["val_top1_err"],
        "train_seconds": round(sum(h["seconds"] for h in result.history), 1),
        **(extra or {}),
    }
    atomic_write_json(outputs.summary, summary)
    print(f"trained {config.arch} for {config.epochs} epochs ({result.info['run']} run): "
          f"val top-1 error {last['val_top1_err']:.4f}")
    return summary


def run_training(values: dict, run: dict, data: Path, model_path: Path, checkpoints: Path, metrics_dir: Path,
                 progress: bool = True, synthetic_model: Path | None = None) -> dict:
    """The real-only baseline: train on the prepared train split, validate on its val split.

    With `reid.pretrained: synthetic` it fine-tunes `synthetic_model`, the pretrain stage's model.
    """
    config = from_section(TrainConfig, values, "reid")
    index = read_index(data)
    train, val = index[index.split == "train"], index[index.split == "val"]
    return train_and_record(config, run_settings(run), train, val, __name__, checkpoints,
                            TrainOutputs.named(model_path, metrics_dir), "real only", progress,
                            synthetic_model=synthetic_model)
