"""Stage `train_encoder`: GAN snapshot + real-only re-ID model + prepared images -> data/encoder, curves, encoder.json.

The encoder learns on the training identities (the GAN's images); every
measure is on held-out identities: the validation curve on a fixed sample of
gallery images, the quality figures and the real / reconstruction sheet on
the queries. Rank@1 with every query replaced by its reconstruction, against
the real gallery, says how much identity survives the round trip.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reid.config import from_section
from reid.data.images import load_images
from reid.data.index import GAN_SPLITS, read_index
from reid.device import pick_device
from reid.engine.features import cosine_distance, extract_features, image_features
from reid.errors import ReidError
from reid.filters.quality import CALIBRATION_FILE, detector_acceptance, resolve_threshold
from reid.filters.screen import PERSON_SHAPE, DetectorSettings
from reid.filters.ssim import ssim
from reid.gan.encoder import LOSS_TERMS, ReidFeatures, freeze, save_encoder
from reid.gan.encoder_training import EncoderConfig, measure, train_encoder
from reid.gan.sampling import load_generator, to_gan_size, to_person
from reid.io import atomic_dir, atomic_write_json
from reid.metrics.rank import evaluate_market1501
from reid.models.baseline import load_model
from reid.pipeline.common import resume_key, run_settings, write_tsv
from reid.provenance import file_digest
from reid.viz.grid import save_grid
from reid.viz.loss_curves import save_loss_curves

ENCODER_FILE = "encoder.pt"
SHEET = "reconstructions.png"
PAIRS_PER_ROW = 8


def _rows(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, 3, H, W) -> (N, H, W, 3), as the detector and SSIM take images."""
    return images.permute(0, 2, 3, 1).numpy()


def held_out_sample(gallery: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """A fixed sample of gallery images of real test identities (no distractors, no junk) for the validation curve."""
    persons = gallery[gallery.pid > 0]
    if persons.empty:
        raise ReidError("the prepared gallery holds no identity images for the encoder's validation")
    order = np.sort(np.random.default_rng(seed).permutation(len(persons))[:count])
    return persons.iloc[order]


def sheet_pairs(query: pd.DataFrame, real: torch.Tensor, made: torch.Tensor, pairs: int) -> torch.Tensor | None:
    """Real / reconstruction side by side for the first query of up to `pairs` identities (thesis Fig 5.15)."""
    first = query.drop_duplicates("pid").index[:pairs]
    if len(first) == 0:
        return None
    return torch.stack([image for i in first for image in (real[i], made[i])])


def rank_scores(query: pd.DataFrame, gallery: pd.DataFrame, query_features, gallery_features) -> dict:
    result = evaluate_market1501(cosine_distance(query_features, gallery_features), query.pid.to_numpy(),
                                 gallery.pid.to_numpy(), query.camid.to_numpy(), gallery.camid.to_numpy())
    return {"rank1": round(float(result.cmc[0]), 4), "mAP": round(float(result.mAP), 4)}


def run_encoder_training(values: dict, detector_values: dict, run: dict, data: Path, snapshot: Path, reid_model: Path,
                         output: Path, checkpoints: Path, metrics_dir: Path, calibration: Path = CALIBRATION_FILE,
                         progress: bool = True) -> dict:
    """Train the encoder (resuming `checkpoints`), then measure it on the held-out queries; write outputs and metrics."""
    config = from_section(EncoderConfig, values, "encoder")
    detector_settings = from_section(DetectorSettings, detector_values, "filter.detector")
    threshold = resolve_threshold(detector_settings.threshold, detector_settings.backend, calibration)
    settings = run_settings(run)
    device = pick_device(settings.device)
    G, _ = load_generator(snapshot, device)
    freeze(G)
    model, reid_config = load_model(reid_model, device)
    reid_size = (reid_config["height"], reid_config["width"])
    features = ReidFeatures(model, *reid_size).to(device)

    index = read_index(data)
    train_paths = list(index.path[index.split.isin(GAN_SPLITS)])
    query = index[index.split == "query"].reset_index(drop=True)
    gallery = index[index.split == "gallery"].reset_index(drop=True)
    val_paths = list(held_out_sample(gallery, config.val_images, config.seed).path)

    def gan_input(paths: list[str], desc: str) -> torch.Tensor:
        return to_gan_size(load_images(paths, *PERSON_SHAPE, progress, desc), G.img_resolution, G.img_width)

    key = resume_key(dataclasses.asdict(config), __name__, [*train_paths, *val_paths, snapshot, reid_model])
    log_path = metrics_dir / "encoder_log.tsv"
    result = train_encoder(G, features, gan_input(train_paths, "load train"), gan_input(val_paths, "load val"),
                           config, checkpoints, key, device, progress,
                           on_record=lambda history: write_tsv(log_path, pd.DataFrame(history)))
    history = pd.DataFrame(result.history)
    write_tsv(log_path, history)
    save_loss_curves(history, [*LOSS_TERMS, "total"], metrics_dir / "encoder_curves.png")

    real_query = load_images(list(query.path), *PERSON_SHAPE, progress, "load queries")
    terms, made = measure(result.encoder, G, features, to_gan_size(real_query, G.img_resolution, G.img_width),
                          config.iterations, settings.batch)
    people = to_person(made)
    detector = detector_settings.load()
    gallery_features = extract_features(model, list(gallery.path), *reid_size, device, settings.batch,
                                        "gallery" if progress else "")
    real_features = extract_features(model, list(query.path), *reid_size, device, settings.batch)
    made_features = torch.cat([image_features(model, to_person(made[i : i + settings.batch], *reid_size), device)
                               for i in range(0, len(made), settings.batch)]).numpy()
    with atomic_dir(output) as tmp:
        save_encoder(result.encoder, dataclasses.asdict(config), file_digest(snapshot), tmp / ENCODER_FILE)
        pairs = sheet_pairs(query, real_query, people, config.grid_pairs)
        if pairs is not None:
            save_grid(pairs, tmp / SHEET, 2 * PAIRS_PER_ROW)
    summary = {
        "run": result.run,
        "steps": config.steps,
        "iterations": config.iterations,
        "train_seconds": round(float(history.seconds.iloc[-1]), 1),
        "held_out_images": len(query),
        "l2": round(float(terms["l2"].mean()), 5),
        "ssim": round(float(ssim(_rows(people), _rows(real_query)).mean()), 4),
        "perceptual": round(float(terms["perceptual"].mean()), 5),
        "perceptual_backbone": features.perceptual_name,
        "identity_cosine": round(float(1 - terms["identity"].mean()), 4),
        "identity_backbone": features.name,
        "w_norm": round(float(terms["w_norm"].mean()), 5),
        "detector": detector.name,
        "detector_threshold": threshold.value,
        "detector_acceptance": round(detector_acceptance(detector.scores(_rows(people)), threshold.value), 4),
        "detector_acceptance_real": round(detector_acceptance(detector.scores(_rows(real_query)), threshold.value), 4),
        "reconstructed_queries": rank_scores(query, gallery, made_features, gallery_features),
        "real_queries": rank_scores(query, gallery, real_features, gallery_features),
    }
    atomic_write_json(metrics_dir / "encoder.json", summary)
    print(f"encoder ({result.run} run, {config.steps} steps, {summary['train_seconds']} s) on {len(query)} held-out "
          f"queries: L2 {summary['l2']}, SSIM {summary['ssim']}, identity cosine {summary['identity_cosine']}, "
          f"{detector.name} accepts {100 * summary['detector_acceptance']:.1f}% "
          f"(real {100 * summary['detector_acceptance_real']:.1f}%), Rank@1 with reconstructed queries "
          f"{summary['reconstructed_queries']['rank1']} (real queries {summary['real_queries']['rank1']})")
    return summary
