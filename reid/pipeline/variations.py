"""`reid generate --input DIR --output DIR`: variations of given person images (the thesis README's usage line).

Every check runs before anything is written: the input folder must hold only
readable 128x64 images (Market-style or any names), the output folder must
be new or empty, and the GAN snapshot and the encoder trained against it must
exist. Then each image is encoded into W+ and `per_image` variations are made
as the invert stage makes them (`gen` layer groups, shares, interpolation).
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
from reid.gan.training import to_gan_size
from reid.gan.variations import plan_image_variations, render_variations
from reid.io import atomic_dir
from reid.pipeline.common import run_settings

GEN_KEYS = ("layers", "shares", "interpolation", "truncation_psi", "jpeg_quality")
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


def run_image_variations(gen_values: dict, run: dict, input_dir: Path, output: Path, snapshot: Path,
                         encoder_path: Path, per_image: int, seed: int = 0, progress: bool = True) -> dict:
    """Write `per_image` variations of every image of `input_dir` into `output`, with manifest.csv."""
    if per_image < 1:
        raise ReidError(f"--per-image must be >= 1, got {per_image}")
    gen = from_section(GenerationConfig, {k: v for k, v in (gen_values or {}).items() if k in GEN_KEYS}, "gen")
    files = input_images(input_dir)
    refuse_non_empty(output)
    settings = run_settings(run)
    device = pick_device(settings.device)
    G, encoder, encoder_config = load_inverter(snapshot, encoder_path, device)
    check_layers(gen, G.num_ws)
    plan = plan_image_variations(files, per_image, seed, gen)
    pixels = load_images(files, *PERSON_SHAPE)
    codes = invert(encoder, G, to_gan_size(pixels, G.img_resolution, G.img_width), encoder_config["iterations"],
                   settings.batch)
    row_of = {path.name: i for i, path in enumerate(files)}
    with atomic_dir(output) as tmp:
        render_variations(G, codes, [row_of[s] for s in plan.source], plan, tmp, gen.jpeg_quality, device,
                          settings.batch, progress)
        plan.to_csv(tmp / MANIFEST, index=False)
    print(f"wrote {len(plan)} variations of {len(files)} images into {output}")
    return {"images": len(files), "variations": len(plan)}
