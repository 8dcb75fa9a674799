"""`reid generate --input DIR --output DIR`: variations of given person images (the thesis README's usage line).

Every check runs before anything is written: the input folder must hold only
readable 128x64 images (Market-style or any names), the output folder must
be new or empty, and the GAN snapshot and the encoder trained against it must
exist. Then each image is encoded into W+, its code refined, and `per_image`
variations are made as the invert stage makes them (`gen` layer groups,
shares, interpolation; `invert` donors and refinement).
"""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.generated import MANIFEST
from reid.data.images import load_images
from reid.data.market import IGNORED_FILES, ImagePolicy, check_image
from reid.device import pick_device
from reid.errors import ReidError
from reid.filters.screen import PERSON_SHAPE
from reid.gan.encoder import invert, load_inverter
from reid.gan.mixing import GenerationConfig, check_layers
from reid.gan.projector import refine
from reid.gan.sampling import to_gan_size
from reid.gan.variations import InvertConfig, plan_image_variations, render_variations
from reid.io import atomic_dir
from reid.pipeline.common import run_settings
from reid.pipeline.invert import GEN_KEYS, picked

INVERT_KEYS = ("donors", "refine_steps", "refine_lr")
PERSON_POLICY = ImagePolicy(*PERSON_SHAPE, wrong_size="refuse", grayscale="convert")


def input_images(folder: Path) -> list[Path]:
    """The images of `folder` (sorted), each decoded and checked; one-line errors for anything else."""
    if not folder.is_dir():
        raise ReidError(f"{folder}: input folder not found")
    files = sorted(p for p in folder.iterdir() if p.name not in IGNORED_FILES and not p.name.startswith("."))
    if not files:
        raise ReidError(f"{folder}: no images in the input folder")
    for path in files:
        if not path.is_file():
            raise ReidError(f"{path}: not an image file (a folder); give a folder of images only")
        check_image(path, PERSON_POLICY)
    return files


def refuse_non_empty(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ReidError(f"{output}: output folder exists and is not empty; choose a new or empty folder")


def run_image_variations(gen_values: dict, invert_values: dict, run: dict, input_dir: Path, output: Path,
                         snapshot: Path, encoder_path: Path, per_image: int, seed: int = 0,
                         progress: bool = True) -> dict:
    """Write `per_image` variations of every image of `input_dir` into `output`, with manifest.csv."""
    if per_image < 1:
        raise ReidError(f"--per-image must be >= 1, got {per_image}")
    gen = from_section(GenerationConfig, picked(gen_values, GEN_KEYS), "gen")
    config = from_section(InvertConfig, picked(invert_values, INVERT_KEYS), "invert")
    files = input_images(input_dir)
    refuse_non_empty(output)
    settings = run_settings(run)
    device = pick_device(settings.device)
    G, encoder, encoder_config = load_inverter(snapshot, encoder_path, device)
    check_layers(gen, G.num_ws)
    plan = plan_image_variations(files, per_image, seed, gen, config.donors)
    targets = to_gan_size(load_images(files, *PERSON_SHAPE), G.img_resolution, G.img_width)
    codes = refine(G, targets, invert(encoder, G, targets, encoder_config["iterations"], settings.batch),
                   config.refine_steps, config.refine_lr, settings.batch, progress)
    with atomic_dir(output) as tmp:
        render_variations(G, codes, {path.name: i for i, path in enumerate(files)}, plan, tmp, gen.jpeg_quality,
                          device, settings.batch, progress)
        plan.to_csv(tmp / MANIFEST, index=False)
    print(f"wrote {len(plan)} variations of {len(files)} images into {output}")
    return {"images": len(files), "variations": len(plan)}
