"""The pipeline steps as the DVC stages and the CLI both run them.

Each step takes its params section as a dict, does the work through the
library and writes its outputs atomically, so `dvc repro` and `reid <step>`
produce the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist

from reid.config import from_section
from reid.data.images import load_images
from reid.data.prepare import PrepareConfig, prepare_dataset, read_index
from reid.engine.evaluate import EvalConfig, evaluate_reid
from reid.engine.train import TrainConfig, save_model, train_reid
from reid.gan.training import GanConfig, generate_images, process_group, real_sample, train_gan
from reid.io import atomic_write_json, atomic_write_text, fingerprint
from reid.metrics.fid import fid_between, load_fid_backbone

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


@dataclass(frozen=True)
class FidSettings:
    """params.yaml `gan.fid:` section."""

    backbone: str = "reid"
    weights: str = "data/reid/model.pt"
    num_images: int = 500


def _fid_evaluator(settings: FidSettings, real_images: torch.Tensor, device, seed: int):
    """FID of G_ema against a fixed real subset, in the feature space params name (None when off)."""
    if settings.num_images <= 0:
        return None, "none"
    backbone = load_fid_backbone(settings.backbone, settings.weights or None, device)
    reals = real_sample(real_images, settings.num_images, seed)

    def evaluate(G, cur_nimg):
        latents = torch.randn(len(reals), G.z_dim, generator=torch.Generator().manual_seed(seed + 1))
        return {"fid": fid_between(backbone, reals, generate_images(G, latents, device))}

    return evaluate, backbone.name


def run_gan_training(values: dict, data: Path, run_dir: Path, metrics_dir: Path, progress: bool = True) -> dict:
    """Train the GAN on the prepared training images; write snapshot, grid, FID curve and gan.json.

    Also runs as N processes, `torchrun --nproc_per_node 2 stages/train_gan.py`:
    the ranks train together and rank 0 alone computes FID, writes the outputs
    and returns the summary (the other ranks return an empty dict).
    """
    config = from_section(GanConfig, values, "gan")
    rank, world, device = process_group(config.device)
    try:
        index = read_index(data)
        paths = list(index.path[index.split.isin(["train", "val"])])
        images = load_images(paths, 128, 64, progress and rank == 0, "load GAN images")
        fid_settings = from_section(FidSettings, config.fid, "gan.fid")
        evaluate, backbone_name = _fid_evaluator(fid_settings, images, device, config.seed) if rank == 0 else (None, "")
        result = train_gan(images, config, run_dir, fingerprint(config.fingerprint_fields(), paths), evaluate, progress)
    finally:
        if world > 1:
            dist.destroy_process_group()
    if rank != 0:
        return {}
    history = pd.DataFrame(result.history)
    fid = history.dropna(subset=["fid"])[["kimg", "fid"]] if "fid" in history else pd.DataFrame(columns=["kimg", "fid"])
    _write_tsv(metrics_dir / "gan_log.tsv", history.drop(columns=["fid"], errors="ignore"))
    _write_tsv(metrics_dir / "gan_fid.tsv", fid)
    summary = {
        "cfg": config.cfg,
        "resolution": config.resolution,
        "kimg": float(history.kimg.iloc[-1]),
        "train_seconds": round(float(history.seconds.iloc[-1]), 1),
        "fid_backbone": backbone_name,
        "fid_first": float(fid.fid.iloc[0]) if len(fid) else None,
        "fid": float(fid.fid.iloc[-1]) if len(fid) else None,
        "transfer": result.transfer_report or {"transferred": 0},
    }
    atomic_write_json(metrics_dir / "gan.json", summary)
    print(f"trained GAN to {summary['kimg']:.1f} kimg: FID ({backbone_name}) {summary['fid_first']} -> {summary['fid']}")
    return summary
