"""What every pipeline step shares: run-time settings, resume keys, TSV output."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reid.config import from_section
from reid.data.shards import read_image_bytes
from reid.errors import ReidError
from reid.io import atomic_write_text
from reid.provenance import code_digest, file_digest


@dataclass(frozen=True)
class RunSettings:
    """params.yaml `run:`: how the stages run, not what they compute. No stage declares it, so a change reruns nothing."""

    device: str = "auto"          # auto | cpu | cuda | cuda:N
    checkpoint_every: int = 2     # train_reid: epochs between resumable checkpoints
    batch: int = 64               # images per forward pass: evaluation, FID, generation
    filter_batch: int = 256       # images per detector and SSIM call

    def __post_init__(self):
        for name in ("checkpoint_every", "batch", "filter_batch"):
            if getattr(self, name) < 1:
                raise ReidError(f"params: run.{name} must be >= 1, got {getattr(self, name)}")


def run_settings(values: dict | None) -> RunSettings:
    return from_section(RunSettings, values, "run")


def fingerprint(settings: dict, files, labels=None) -> str:
    """Digest of the settings that shape a result and of the input files' bytes (and labels).

    A checkpoint carries it, so a resume never continues a run made with
    other params or other data. Files may be shard members (an augmented
    training set names generated images inside data/generated's shards).
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for i, path in enumerate(files):
        if labels is not None:
            digest.update(f"{labels[i]}\0".encode())
        digest.update(hashlib.sha256(read_image_bytes(path)).digest())
    return digest.hexdigest()


def resume_key(settings: dict, stage_module: str, files, labels=None, weights: str = "") -> str:
    """Key of a resumable run: params, the input files' bytes, the stage's code and a weights file it loads."""
    if weights and not Path(weights).is_file():
        raise ReidError(f"{weights}: weights file not found")
    provenance = {"params": settings, "code": code_digest(stage_module),
                  "weights": file_digest(weights) if weights else ""}
    return fingerprint(provenance, files, labels)


def write_tsv(path: Path, table: pd.DataFrame) -> None:
    atomic_write_text(path, table.to_csv(sep="\t", index=False, float_format="%.6f"))
