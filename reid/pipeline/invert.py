"""Stage `invert`: encoder + GAN snapshot + real training images -> variations of every real identity, filtered.

Every training image is encoded into W+ once and its code refined
(`invert.refine_steps`); each identity gets `invert.variations_per_person`
variations (layer-group mixing and interpolation as `gen` makes artificial
persons, with the person's other images as donors), written as Market-style
JPEGs under the identity's pid with the source image's camera. The same two
filters as the `filter` stage screen them: the pedestrian detector, then SSIM
against the real image each variation was inverted from (thesis Table 5.9).
The variations stay in the output's tar shards (like `generate`'s images);
`scores.csv` gives each its verdict, and the kept ones are the pool
`aug.images_per_person` draws from.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reid.config import from_section
from reid.data.generated import MANIFEST, SCORES
from reid.data.images import load_images
from reid.data.index import read_index
from reid.device import pick_device
from reid.filters.quality import CALIBRATION_FILE, resolve_ssim_threshold, resolve_threshold
from reid.filters.screen import KEPT, PERSON_SHAPE, FilterConfig, decide, discard_counts, discard_table
from reid.filters.ssim import ssim
from reid.gan.encoder import invert, load_inverter
from reid.gan.generator import Generator
from reid.gan.mixing import GenerationConfig, check_layers
from reid.gan.projector import refine
from reid.gan.sampling import to_gan_size, to_person
from reid.gan.variations import InvertConfig, plan_variations, render_variations
from reid.io import atomic_dir, atomic_write_json
from reid.pipeline.common import run_settings, write_tsv
from reid.viz.grid import save_grid

GEN_KEYS = ("layers", "shares", "interpolation", "truncation_psi", "jpeg_quality")  # what invert reads of `gen`
FILTER_KEYS = ("detector", "ssim")
SHEET_COLUMNS = 12


def picked(values: dict | None, keys: tuple[str, ...]) -> dict:
    """The given keys of a params section (the stage reads no others of it)."""
    return {k: v for k, v in (values or {}).items() if k in keys}


def sheet(real: np.ndarray, scored: pd.DataFrame, source_row: dict, images: dict, persons: int) -> np.ndarray | None:
    """Per identity: its first source image, then its first variations (thesis Fig 5.16)."""
    rows = []
    for pid in sorted(scored.pid.unique())[:persons]:
        mine = scored[scored.pid == pid]
        first = real[source_row[mine.source.iloc[0]]]
        rows.extend([first, *(images[f] for f in mine.file[: SHEET_COLUMNS - 1])])
        rows.extend([np.zeros_like(first)] * (SHEET_COLUMNS - 1 - min(len(mine), SHEET_COLUMNS - 1)))
    return np.stack(rows) if rows else None


def reconstruction_quality(G: Generator, codes: torch.Tensor, real: np.ndarray, detector, threshold: float,
                           batch: int) -> dict:
    """How the codes' images compare with the real ones: median SSIM and the detector's acceptance."""
    with torch.no_grad():
        made = torch.cat([to_person(G.synthesis(codes[i : i + batch])).cpu() for i in range(0, len(codes), batch)])
    made = made.permute(0, 2, 3, 1).numpy()
    return {"ssim_median": round(float(np.median(ssim(made, real))), 4),
            "detector_acceptance": round(float(np.mean(np.asarray(detector.scores(made)) >= threshold)), 4)}


def run_invert(values: dict, gen_values: dict, filter_values: dict, run: dict, data: Path, snapshot: Path,
               encoder_path: Path, output: Path, metrics_dir: Path | None, calibration: Path = CALIBRATION_FILE,
               progress: bool = True) -> dict:
    """Make, screen and write the variations of every real training identity; print the discard table."""
    config = from_section(InvertConfig, values, "invert")
    gen = from_section(GenerationConfig, picked(gen_values, GEN_KEYS), "gen")
    screen = from_section(FilterConfig, picked(filter_values, FILTER_KEYS), "filter")
    threshold = resolve_threshold(screen.detector.threshold, screen.detector.backend, calibration)
    ssim_threshold = resolve_ssim_threshold(screen.ssim.threshold, calibration)
    settings = run_settings(run)
    device = pick_device(settings.device)
    G, encoder, encoder_config = load_inverter(snapshot, encoder_path, device)
    check_layers(gen, G.num_ws)

    index = read_index(data)
    train = index[index.split == "train"].reset_index(drop=True)
    train["source"] = [os.path.relpath(p, data) for p in train.path]
    plan = plan_variations(train, config, gen)
    real_pixels = load_images(list(train.path), *PERSON_SHAPE, progress, "load train")
    real = real_pixels.permute(0, 2, 3, 1).numpy()
    source_row = {source: i for i, source in enumerate(train.source)}
    targets = to_gan_size(real_pixels, G.img_resolution, G.img_width)
    encoded = invert(encoder, G, targets, encoder_config["iterations"], settings.batch)
    codes = refine(G, targets, encoded, config.refine_steps, config.refine_lr, settings.batch, progress)
    detector = screen.detector.load()
    quality = {name: reconstruction_quality(G, ws, real, detector, threshold.value, settings.batch)
               for name, ws in (("encoder", encoded), ("refined", codes))}

    shown_pids = sorted(plan.pid.unique())[: config.grid_persons]
    shown_files = set(plan[plan.pid.isin(shown_pids)].groupby("pid").head(SHEET_COLUMNS - 1).file)
    scores, similarities, shown = [], [], {}
    with atomic_dir(output) as tmp:

        def screen_batch(rows, decoded):
            scores.append(np.asarray(detector.scores(decoded), dtype=np.float64))
            similarities.append(ssim(decoded, real[[source_row[s] for s in rows.source]]))
            shown.update((f, image) for f, image in zip(rows.file, decoded) if f in shown_files)

        render_variations(G, codes, source_row, plan, tmp, gen.jpeg_quality, device, settings.batch, progress,
                          screen_batch)
        plan.to_csv(tmp / MANIFEST, index=False)
        scored = plan.assign(detector_score=np.concatenate(scores), ssim=np.concatenate(similarities))
        scored["verdict"] = decide(scored, threshold.value, ssim_threshold.value)
        scored.to_csv(tmp / SCORES, index=False, float_format="%.6f")
        examples = sheet(real, scored, source_row, shown, config.grid_persons)
        if examples is not None:
            save_grid(examples, tmp / "grid.png", SHEET_COLUMNS)

    table = discard_table(scored.verdict, f"{detector.name} pedestrian detection (score < {threshold.value:g})")
    kept_per_person = scored[scored.verdict == KEPT].groupby("pid").size().reindex(sorted(train.pid.unique()),
                                                                                      fill_value=0)
    summary = {
        "detector": detector.name,
        "detector_threshold": threshold.value,
        "detector_threshold_source": threshold.source,
        "ssim_threshold": ssim_threshold.value,
        "ssim_threshold_source": ssim_threshold.source,
        "ssim_reference": "the real image each variation was inverted from",
        "donors": config.donors,
        "refine_steps": config.refine_steps,
        "reconstruction_encoder": quality["encoder"],
        "reconstruction_refined": quality["refined"],
        "persons": int(len(kept_per_person)),
        "variations_per_person": config.variations_per_person,
        "generated": len(scored),
        "kept": int((scored.verdict == KEPT).sum()),
        **discard_counts(table),
        "kept_per_person_min": int(kept_per_person.min()),
        "kept_per_person_median": float(kept_per_person.median()),
        "persons_with_35_kept": int((kept_per_person >= 35).sum()),
        "median_ssim_to_source": round(float(scored.ssim.median()), 4),
    }
    if metrics_dir is not None:
        atomic_write_json(metrics_dir / "invert.json", summary)
        write_tsv(metrics_dir / "invert_table.tsv", table)
    print(f"reconstructions of the {len(codes)} training images, encoder -> refined ({config.refine_steps} steps): "
          f"median SSIM {quality['encoder']['ssim_median']} -> {quality['refined']['ssim_median']}, detector accepts "
          f"{quality['encoder']['detector_acceptance']:.1%} -> {quality['refined']['detector_acceptance']:.1%}")
    print(f"detector threshold {threshold.value:g} ({threshold.source}); SSIM threshold {ssim_threshold.value:g} "
          f"({ssim_threshold.source}) against each variation's source image")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"kept {summary['kept']} of {summary['generated']} variations of {summary['persons']} real persons in "
          f"{output} (verdicts in {SCORES}; per person: min {summary['kept_per_person_min']}, median "
          f"{summary['kept_per_person_median']:g}; {summary['persons_with_35_kept']} persons with 35 or more)")
    return summary
