"""Stage `train_augmented`: params `reid` + the assembled index -> the augmented model, its curves and summary.

The `aug` params reach it only through the assembled index, so an `aug` change
that assembles the same set retrains nothing. A set that adds nothing is the
baseline's: its model and curves are reused, not trained a second time.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd

from reid.config import from_section
from reid.data.assemble import REAL, UNIFORM, read_assembled
from reid.engine.train import TrainConfig
from reid.errors import ReidError
from reid.io import atomic_path, atomic_write_json, load_torch_file
from reid.pipeline.common import run_settings
from reid.pipeline.train_reid import TrainOutputs, train_and_record, write_curves


def reuse_baseline(config: TrainConfig, baseline: TrainOutputs, outputs: TrainOutputs) -> dict:
    """Copy the baseline model and curves; refuse a baseline trained with other `reid` params."""
    saved = load_torch_file(baseline.model, "re-ID model").get("config")
    if saved != dataclasses.asdict(config):
        raise ReidError(f"{baseline.model}: trained with other reid params than params.yaml; rerun train_reid")
    for source in (baseline.model, baseline.log, baseline.summary):
        if not source.is_file():
            raise ReidError(f"{source}: not found; run the train_reid stage first")
    with atomic_path(outputs.model) as tmp:
        shutil.copyfile(baseline.model, tmp)
    write_curves(pd.read_csv(baseline.log, sep="\t"), outputs, "real only (the baseline, reused)")
    summary = {**json.loads(baseline.summary.read_text()), "reused_baseline": True}
    atomic_write_json(outputs.summary, summary)
    print(f"nothing added to the real images: the baseline model {baseline.model} is reused")
    return summary


def run_augmented_training(values: dict, run: dict, assembled: Path, baseline: TrainOutputs, outputs: TrainOutputs,
                           checkpoints: Path, progress: bool = True, synthetic_model: Path | None = None) -> dict:
    """Train on the assembled set (generated images marked `uniform` under LSRO), or reuse the baseline.

    `synthetic_model` is what `reid.pretrained: synthetic` starts from, as for the baseline.
    """
    config = from_section(TrainConfig, values, "reid")
    index = read_assembled(assembled)
    added = index[index.source != REAL]
    if added.empty:
        return reuse_baseline(config, baseline, outputs)
    train = index[index.split == "train"].assign(uniform=index.target == UNIFORM)
    val = index[index.split == "val"]
    title = f"real + {len(added)} generated images of {added.pid.nunique()} persons"
    return train_and_record(config, run_settings(run), train, val, __name__, checkpoints, outputs, title, progress,
                            extra={"reused_baseline": False}, synthetic_model=synthetic_model)
