"""Train one GAN recipe for a fixed wall time (or kimg) and judge it as issue 10 does; prints a markdown row.

Run by hand, one recipe at a time (the machine has 2 cores):

    PYTHONPATH=. python benchmarks/gan_recipes.py --trial sg2-64x32 --minutes 8 \\
        cfg=stylegan2 resolution=64 width=32 channel_base=4096 channel_max=256 batch=32 gamma=-1 \\
        augment=color,translation

Measured: (a) the share of N generated 128x64 crops that the HOG detector
accepts at the threshold rejecting 7% of the real training crops; (b) FID on
the re-ID model's features between N generated and N real crops, and the
floor: FID between two disjoint halves of the real crops, N each; (c) s/kimg
and kimg reached. The matmul rate opens the log, so that timings taken while
someone else used the cores can be told apart. The grid goes to
benchmarks/gan_runs/<trial>/grid.png; the snapshot stays in a scratch directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gan import matmul_gflops  # noqa: E402

from reid.data.images import load_images  # noqa: E402
from reid.data.index import read_index  # noqa: E402
from reid.device import pick_device  # noqa: E402
from reid.filters.calibration import threshold_for_rejection  # noqa: E402
from reid.filters.detector import load_detector  # noqa: E402
from reid.filters.quality import detector_acceptance  # noqa: E402
from reid.gan.sampling import generate_images, load_generator  # noqa: E402
from reid.gan.training import SNAPSHOT, GanConfig, train_gan  # noqa: E402
from reid.metrics.fid import fid_between, load_fid_backbone  # noqa: E402
from reid.viz.grid import save_grid  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REJECT_REAL = 0.07
PNG_BYTES = 300_000  # grids are committed: palette PNG, fewer rows until it fits
# Issue 10's starting point, except what a recipe overrides.
BASE = dict(cfg="T", resolution=32, channel_base=1024, channel_max=32, batch=16, gamma=0.5, kimg=1e6, tick_kimg=1,
            snap=10**6, seed=0)
GRID = 8


def parse_overrides(pairs: list[str]) -> dict:
    """key=value strings -> GanConfig fields, values read as YAML scalars (as `dvc exp run -S` does)."""
    values = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        value = yaml.safe_load(text)
        values[key] = "" if value is None else value
    return values


def save_small_grid(source: Path, target: Path, row_height: int = 128) -> None:
    """The grid as a 256-colour PNG under PNG_BYTES, dropping its last rows while it is larger."""
    image = Image.open(source).convert("RGB")
    rows = image.height // row_height
    while True:
        image.crop((0, 0, image.width, rows * row_height)).quantize(256, dither=Image.Dither.NONE).save(target,
                                                                                                         optimize=True)
        if target.stat().st_size < PNG_BYTES or rows == 1:
            return
        rows -= 1


def real_floor_and_threshold(halves: tuple, train: torch.Tensor, backbone, weights: str, cache: Path) -> dict:
    """HOG threshold on the real train crops and the real-vs-real FID floor; cached, they depend on no recipe.

    Keyed by the weights file's content, not its path: `dvc repro` rewrites data/reid/model.pt in place.
    """
    digest = hashlib.md5(Path(weights).read_bytes()).hexdigest()
    key = f"{len(halves[0])}-{len(train)}-{backbone.name}-{digest}"
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    if key not in cached:
        scores = load_detector("hog").scores(train.permute(0, 2, 3, 1).numpy())
        cached[key] = {"hog_threshold": threshold_for_rejection(scores, REJECT_REAL),
                       "fid_floor": fid_between(backbone, *halves)}
        cache.write_text(json.dumps(cached, indent=1))
    return cached[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="GanConfig fields as key=value")
    parser.add_argument("--trial", required=True, help="name; the grid goes to benchmarks/gan_runs/<trial>/")
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall time (0 = until kimg)")
    parser.add_argument("--images", type=int, default=500, help="generated (and real) images per measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=str(ROOT / "data/prepared"))
    parser.add_argument("--fid-weights", default=str(ROOT / "data/reid/model.pt"))
    parser.add_argument("--eval-only", action="store_true", help="measure the trial's last snapshot again")
    parser.add_argument("--psi", type=float, default=1.0, help="truncation of the measured samples")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    gflops = matmul_gflops()
    print(f"matmul {gflops:.1f} GFLOP/s on {args.threads} threads", flush=True)
    config = GanConfig(**{**BASE, **parse_overrides(args.overrides)})
    device = pick_device("auto")
    index = read_index(args.data)
    gan_rows = index.split.isin(["train", "val"])
    images = load_images(list(index.path[gan_rows]), 128, 64)
    train = images[torch.tensor((index.split[gan_rows] == "train").to_numpy())]

    out = ROOT / "benchmarks/gan_runs" / args.trial
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.gettempdir()) / "gan_recipes" / args.trial
    if args.eval_only:
        G, _ = load_generator(scratch / SNAPSHOT, device)
        history = torch.load(scratch / SNAPSHOT, map_location="cpu", weights_only=False)["history"]
    else:
        shutil.rmtree(scratch, ignore_errors=True)
        result = train_gan(images, config, scratch, args.trial, "auto", progress=False, max_seconds=args.minutes * 60)
        G, history = result.G_ema, result.history
        grid_z = torch.randn(GRID * GRID, config.z_dim, generator=torch.Generator().manual_seed(config.seed))
        save_grid(generate_images(G, grid_z, device), scratch / "grid.png", GRID)
        save_small_grid(scratch / "grid.png", out / "grid.png")
    last = history[-1]
    for row in history:
        print(f"  {row['kimg']:7.2f} kimg {row['seconds']:6.0f} s  G {row['loss_G']:.3f}  D {row['loss_D']:.3f}")

    backbone = load_fid_backbone("reid", args.fid_weights, device)
    order = torch.as_tensor(np.random.default_rng(1).permutation(len(images)))
    halves = images[order[: args.images]], images[order[args.images : 2 * args.images]]
    real = real_floor_and_threshold(halves, train, backbone, args.fid_weights, ROOT / "benchmarks/gan_runs/real.json")
    latents = torch.randn(args.images, config.z_dim, generator=torch.Generator().manual_seed(123))
    fake = generate_images(G, latents, device, psi=args.psi)
    passed = detector_acceptance(load_detector("hog").scores(fake.permute(0, 2, 3, 1).numpy()), real["hog_threshold"])
    fid = fid_between(backbone, halves[0], fake)

    overrides = " ".join(args.overrides) + (f" (psi {args.psi:g})" if args.psi != 1 else "")
    size = f"{config.resolution}x{config.img_width}"
    print(f"HOG threshold {real['hog_threshold']:.3f} (rejects {REJECT_REAL:.0%} of {len(train)} real train crops)")
    print("| trial | overrides | size | threads, matmul GFLOP/s | s/kimg | kimg | FID | floor | FID/floor | HOG pass "
          "| grid |")
    print(f"| {args.trial} | {overrides} | {size} | {args.threads}, {gflops:.0f} | {last['seconds'] / last['kimg']:.1f} "
          f"| {last['kimg']:.1f} "
          f"| {fid:.1f} | {real['fid_floor']:.1f} | {fid / real['fid_floor']:.2f} | {passed:.1%} "
          f"| gan_runs/{args.trial}/grid.png |")


if __name__ == "__main__":
    main()
