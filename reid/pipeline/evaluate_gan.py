"""Stage `evaluate_gan`: every network file of a GAN run -> detector acceptance, FID and its floor, grids.

The headline is what the filter will see: the share of generated images the
pedestrian detector accepts at the calibrated threshold (real images: about
1 - filter.target_rejection). FID on the project's re-ID features means
little alone (a GAN can please a feature space without better images), so it
is reported next to the FID between two disjoint halves of the real images at
the same sample size, the floor a perfect generator would reach. A generator of
a smaller size than the 128x64 crops cannot reach that floor: it is trained
on the crops area-resized to its size, and its images are enlarged again. So
the stage also reports FID against the real images at the GAN's size (as
StyleGAN measures against its data set at the training resolution), with the
floor at that size and the resolution floor, the FID of the crops against
themselves shrunk and enlarged, which is what the GAN size alone costs.

A short GAN run swings between snapshots (on 2 CPU cores the detector's share
moved by up to 40 points from one 8-kimg network to the next), so the stage
also chooses the network the later stages use (`network.pt`): by default the
one the detector accepts most, as StyleGAN's users keep the snapshot of best
FID, among the networks whose FID is near the run's best: early networks of a
short run can please the detector with one collapsed figure (a 28-kimg network
passed at 64% while drawing one pose in every cell), and FID, which sees
diversity, rules them out. The share is chosen on one set of latents and
reported on another, so the reported figure is not the maximum of noisy draws.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reid.config import from_section
from reid.data.images import load_images
from reid.data.index import GAN_SPLITS, read_index
from reid.device import pick_device
from reid.errors import ReidError
from reid.filters.quality import CALIBRATION_FILE, detector_acceptance, resolve_threshold
from reid.filters.screen import DetectorSettings
from reid.gan.sampling import generate_images, load_generator, network_file, network_kimg, to_gan_size, to_person
from reid.io import atomic_dir, atomic_write_json
from reid.metrics.fid import fid_from_features, load_fid_backbone
from reid.pipeline.common import run_settings, write_tsv
from reid.progress import progress_bar
from reid.viz.grid import save_grid


CHOICES = ("detector", "last")
CHOSEN_NETWORK = "network.pt"


@dataclass(frozen=True)
class GanEvalConfig:
    """params.yaml `gan_eval:` section."""

    backbone: str = "reid"                 # reid (the trained re-ID model, offline) | inception
    weights: str = "data/reid/model.pt"    # the backbone's weights file
    num_images: int = 500                  # generated and real images per FID point (and per floor half)
    grid: int = 8                          # sample grids are grid x grid images, the same latents every network
    choose: str = "detector"               # the network later stages use: detector (most accepted) | last
    fid_tolerance: float = 0.05            # detector: only networks with FID <= (1 + this) x the best compete
    seed: int = 0

    def __post_init__(self):
        if self.num_images < 2 or self.grid < 1:
            raise ReidError("params: gan_eval.num_images must be >= 2 and gan_eval.grid >= 1")
        if self.choose not in CHOICES:
            raise ReidError(f"params: gan_eval.choose must be one of {CHOICES}, got {self.choose!r}")
        if self.fid_tolerance < 0:
            raise ReidError(f"params: gan_eval.fid_tolerance must be a number >= 0, got {self.fid_tolerance!r}")


def _as_rows(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, 3, H, W) tensors -> (N, H, W, 3) arrays, as detectors take them."""
    return images.permute(0, 2, 3, 1).numpy()


def choose_network(rows: list[dict], choose: str, fid_tolerance: float) -> int:
    """Index of the network later stages use: the last, or, of those with FID within `fid_tolerance` of the
    best, the one most accepted (the later one of a tie)."""
    if choose == "last":
        return len(rows) - 1
    ceiling = (1 + fid_tolerance) * min(row["fid"] for row in rows)
    candidates = [i for i, row in enumerate(rows) if row["fid"] <= ceiling]
    return max(candidates, key=lambda i: (rows[i]["detector_acceptance"], i))


def at_gan_size(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 person crops as the GAN sees them in training (area-resized to its size) and enlarged back."""
    return to_person(to_gan_size(images, height, width), *images.shape[2:])


def run_gan_evaluation(values: dict, detector_values: dict, truncation_psi: float, run: dict, data: Path,
                       run_dir: Path, output: Path, metrics_dir: Path, calibration: Path = CALIBRATION_FILE,
                       progress: bool = True) -> dict:
    """Acceptance and FID of every network file in `run_dir`, the real references; grids; gan.json, gan_fid.tsv;
    the chosen network copied to `output`/network.pt.

    Acceptance and grids are of images made at `truncation_psi`, as the generate stage makes them
    (`gen.truncation_psi`); FID is at psi 1, as is usual, so it measures the whole distribution.
    """
    config = from_section(GanEvalConfig, values, "gan_eval")
    if isinstance(truncation_psi, bool) or not isinstance(truncation_psi, (int, float)):
        raise ReidError(f"params: gen.truncation_psi must be a number, got {truncation_psi!r}")
    detector_settings = from_section(DetectorSettings, detector_values, "filter.detector")
    threshold = resolve_threshold(detector_settings.threshold, detector_settings.backend, calibration)
    settings = run_settings(run)
    device = pick_device(settings.device)
    networks = sorted(Path(run_dir).glob(network_file(None)))
    if not networks:
        raise ReidError(f"{run_dir}: no network files; train the GAN first (reid train-gan or dvc repro train_gan)")
    index = read_index(data)
    images = load_images(list(index.path[index.split.isin(GAN_SPLITS)]), 128, 64, progress, "load real images")
    count = min(config.num_images, len(images) // 2)
    order = torch.as_tensor(np.random.default_rng(config.seed).permutation(len(images)))
    reals, other_reals = images[order[:count]], images[order[count : 2 * count]]
    backbone = load_fid_backbone(config.backbone, config.weights, device)

    def features(images):
        return backbone.features(images, settings.batch)

    first, _ = load_generator(networks[0], device)
    gan_size = (first.img_resolution, first.img_width)
    real_features, small_features = features(reals), features(at_gan_size(reals, *gan_size))
    other_small_features = features(at_gan_size(other_reals, *gan_size))
    floor = fid_from_features(real_features, features(other_reals))
    small_floor = fid_from_features(small_features, other_small_features)
    resolution_floor = fid_from_features(real_features, other_small_features)
    detector = detector_settings.load()
    real_acceptance = detector_acceptance(detector.scores(_as_rows(reals)), threshold.value)
    rows = []

    def acceptance(G, z):
        made = generate_images(G, z, device, settings.batch, truncation_psi)
        return detector_acceptance(detector.scores(_as_rows(made)), threshold.value)

    with atomic_dir(output) as tmp:
        for path in progress_bar(networks, desc="evaluate_gan", unit="network", disable=not progress):
            G, _ = load_generator(path, device)
            latents = torch.Generator().manual_seed(config.seed)
            grid_z = torch.randn(config.grid**2, G.z_dim, generator=latents)
            fid_z = torch.randn(count, G.z_dim, generator=latents)
            kimg = network_kimg(path)
            save_grid(generate_images(G, grid_z, device, settings.batch, truncation_psi),
                      tmp / f"grid-{kimg:010.3f}kimg.png", config.grid)
            made = features(generate_images(G, fid_z, device, settings.batch))
            rows.append({"kimg": kimg, "detector_acceptance": acceptance(G, fid_z),
                         "fid": fid_from_features(real_features, made),
                         "fid_at_gan_size": fid_from_features(small_features, made)})
        chosen = choose_network(rows, config.choose, config.fid_tolerance)
        G, _ = load_generator(networks[chosen], device)
        held_out_z = torch.randn(count, G.z_dim, generator=torch.Generator().manual_seed(config.seed + 1))
        held_out = acceptance(G, held_out_z)  # not the latents it was chosen on
        shutil.copyfile(tmp / f"grid-{rows[chosen]['kimg']:010.3f}kimg.png", tmp / "grid.png")
        shutil.copyfile(networks[chosen], tmp / CHOSEN_NETWORK)
    curve = pd.DataFrame(rows).assign(fid_real_floor=floor, fid_gan_size_floor=small_floor,
                                      detector_acceptance_real=real_acceptance)
    write_tsv(metrics_dir / "gan_fid.tsv", curve)
    summary = {
        "detector_acceptance": round(held_out, 4),
        "detector_acceptance_at_choice": round(rows[chosen]["detector_acceptance"], 4),
        "chosen_by": config.choose,
        "fid_tolerance": config.fid_tolerance,
        "kimg": rows[chosen]["kimg"],
        "last_kimg": rows[-1]["kimg"],
        "detector_acceptance_last": round(rows[-1]["detector_acceptance"], 4),
        "truncation_psi": truncation_psi,
        "detector_acceptance_real": round(real_acceptance, 4),
        "detector": detector.name,
        "detector_threshold": threshold.value,
        "detector_threshold_source": threshold.source,
        "fid_backbone": backbone.name,
        "fid_images": count,
        "fid": round(rows[chosen]["fid"], 4),
        "fid_first": round(rows[0]["fid"], 4),
        "fid_real_floor": round(floor, 4),
        "fid_over_floor": round(rows[chosen]["fid"] / floor, 3) if floor > 0 else None,
        "gan_size": list(gan_size),
        "fid_at_gan_size": round(rows[chosen]["fid_at_gan_size"], 4),
        "fid_gan_size_floor": round(small_floor, 4),
        "fid_at_gan_size_over_floor": round(rows[chosen]["fid_at_gan_size"] / small_floor, 3) if small_floor > 0 else None,
        "fid_resolution_floor": round(resolution_floor, 4),
    }
    atomic_write_json(metrics_dir / "gan.json", summary)
    print(f"GAN at {summary['kimg']:g} kimg (chosen by {config.choose} of {len(rows)} networks): {detector.name} "
          f"accepts {100 * held_out:.1f}% of {count} generated images (real: {100 * real_acceptance:.1f}%); "
          f"FID ({backbone.name}) "
          f"{summary['fid']}, real-vs-real floor {summary['fid_real_floor']} (first network {summary['fid_first']}); "
          f"against the real images at the GAN size {gan_size[0]}x{gan_size[1]} {summary['fid_at_gan_size']}, "
          f"floor {summary['fid_gan_size_floor']}; the size alone costs {summary['fid_resolution_floor']}")
    return summary
