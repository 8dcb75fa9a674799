"""The pipeline steps as the DVC stages and the CLI both run them.

Each step takes its params section as a dict, does the work through the
library and writes its outputs atomically, so `dvc repro` and `reid <step>`
produce the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from reid.config import from_section
from reid.data.images import load_images
from reid.data.prepare import PrepareConfig, prepare_dataset, read_index
from reid.engine.evaluate import EvalConfig, evaluate_reid
from reid.engine.train import TrainConfig, save_model, train_reid
from reid.device import pick_device
from reid.filters.calibration import rejection_curve, threshold_for_rejection
from reid.filters.detector import load_detector
from reid.filters.screen import (KEPT, VERDICTS, FilterConfig, decide, detector_scores, discard_table,
                                 read_manifest, read_person_image, real_ssim_per_person, score_images, write_sets)
from reid.gan.mixing import MANIFEST, GenerationConfig, plan_persons, render_persons
from reid.gan.training import (GanConfig, generate_images, load_generator, process_group, real_sample,
                               train_gan)
from reid.io import atomic_dir, atomic_write_json, atomic_write_text, fingerprint
from reid.metrics.fid import fid_between, load_fid_backbone
from reid.viz.grid import save_grid

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


def next_pid(data: Path) -> int:
    """First pid after the largest real pid of the prepared data, so real and artificial persons never share one."""
    return max(int(read_index(data).pid.max()) + 1, 1)


def run_generation(values: dict, snapshot: Path, output: Path, first_pid: int, progress: bool = True) -> dict:
    """Generate the artificial persons of params `gen` from a GAN snapshot into `output` (replaced whole)."""
    config = from_section(GenerationConfig, values, "gen")
    device = pick_device(config.device)
    G, _ = load_generator(snapshot, device)
    manifest = plan_persons(config, first_pid)
    with atomic_dir(output) as tmp:
        sheet = render_persons(G, manifest, config, tmp, device, progress)
        manifest.to_csv(tmp / MANIFEST, index=False)
        if sheet is not None:
            save_grid(sheet, tmp / "grid.png", config.images_per_person)
    summary = {"persons": config.persons, "images": len(manifest), "first_pid": int(manifest.pid.min()),
               "last_pid": int(manifest.pid.max())}
    print(f"generated {summary['images']} images of {config.persons} persons "
          f"(pids {summary['first_pid']}-{summary['last_pid']}) into {output}")
    return summary


def _example_sheet(folder: Path, files: list[str], count: int) -> np.ndarray | None:
    """Up to `count` images spread evenly over `files` (None when there are none)."""
    if not files:
        return None
    picks = np.unique(np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int))
    return np.stack([read_person_image(folder / files[i]) for i in picks])


def run_filter(values: dict, generated: Path, output: Path, metrics_dir: Path | None, progress: bool = True) -> dict:
    """Screen a generated folder into `output` (kept/, discarded/<filter>/, scores, sheets) and report.

    Writes metrics/filter.json and the discard table metrics/filter_table.tsv when `metrics_dir` is given.
    """
    config = from_section(FilterConfig, values, "filter")
    detector_settings, ssim_settings = config.detector_settings(), config.ssim_settings()
    manifest = read_manifest(generated)
    detector = load_detector(detector_settings.backend, **detector_settings.options)
    scored = score_images(generated, manifest, detector, config.batch, progress)
    scored["verdict"] = decide(scored, detector_settings.threshold, ssim_settings.threshold)
    table = discard_table(scored.verdict, detector.name)
    with atomic_dir(output) as tmp:
        write_sets(generated, scored, tmp, progress)
        scored.to_csv(tmp / "scores.csv", index=False, float_format="%.6f")
        for verdict in VERDICTS:
            sheet = _example_sheet(generated, list(scored.file[scored.verdict == verdict]), config.grid)
            if sheet is not None:
                save_grid(sheet, tmp / f"{verdict}.png", 12)
    summary = {
        "detector": detector.name,
        "detector_threshold": detector_settings.threshold,
        "ssim_threshold": ssim_settings.threshold,
        "generated": len(scored),
        "kept": int((scored.verdict == KEPT).sum()),
        "discarded_detector": int(table.images_discarded[0]),
        "discarded_detector_pct": round(float(table.percent[0]), 2),
        "discarded_ssim": int(table.images_discarded[1]),
        "discarded_ssim_pct": round(float(table.percent[1]), 2),
        "discarded_total": int(table.images_discarded[2]),
        "discarded_total_pct": round(float(table.percent[2]), 2),
        "kept_persons": int(scored.pid[scored.verdict == KEPT].nunique()),
    }
    if metrics_dir is not None:
        atomic_write_json(metrics_dir / "filter.json", summary)
        _write_tsv(metrics_dir / "filter_table.tsv", table)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"kept {summary['kept']} of {summary['generated']} images in {output / KEPT}")
    return summary


def run_calibration(values: dict, data: Path, metrics_dir: Path, progress: bool = True) -> dict:
    """Score the real training images: detector rejection curve (Fig 5.3) and SSIM histogram (Fig 5.4).

    Prints the largest detector threshold that rejects at most `filter.target_rejection`
    of the real images, the value to put in `filter.detector.threshold`.
    """
    config = from_section(FilterConfig, values, "filter")
    detector_settings, ssim_settings = config.detector_settings(), config.ssim_settings()
    index = read_index(data)
    train = index[index.split == "train"].sort_values("path")
    detector = load_detector(detector_settings.backend, **detector_settings.options)
    scores = detector_scores([Path(p) for p in train.path], detector, config.batch, progress)
    thresholds = np.unique(np.round(np.linspace(scores.min(), scores.max(), 101), 4))
    curve = pd.DataFrame({"threshold": thresholds, "rejected_pct": rejection_curve(scores, thresholds)})
    similarities = real_ssim_per_person(train, progress)
    counts, edges = np.histogram(similarities, bins=50, range=(0.0, 1.0))
    histogram = pd.DataFrame({"ssim": (edges[:-1] + edges[1:]) / 2, "images": counts})
    suggested = threshold_for_rejection(scores, config.target_rejection)
    summary = {
        "detector": detector.name,
        "real_images": len(train),
        "target_rejection": config.target_rejection,
        "suggested_threshold": round(float(suggested), 4),
        "threshold": detector_settings.threshold,
        "rejected_pct_at_threshold": round(100 * float(np.mean(scores < detector_settings.threshold)), 2),
        "real_ssim_median": round(float(np.median(similarities)), 4) if len(similarities) else None,
        "real_ssim_below_threshold_pct": round(100 * float(np.mean(similarities < ssim_settings.threshold)), 2)
        if len(similarities) else None,
    }
    _write_tsv(metrics_dir / "detector_calibration.tsv", curve)
    _write_tsv(metrics_dir / "ssim_real.tsv", histogram)
    atomic_write_json(metrics_dir / "calibration.json", summary)
    print(f"{detector.name}: threshold {summary['suggested_threshold']} rejects at most "
          f"{100 * config.target_rejection:.2f}% of {len(train)} real images; params threshold "
          f"{detector_settings.threshold} rejects {summary['rejected_pct_at_threshold']}%")
    return summary
