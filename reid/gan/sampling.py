"""From a trained generator to person images: rebuilding G from a saved file, sampling, 128x64 crops.

Generation and GAN evaluation use these without the training loop, so a
change to training code does not rerun them (and they need no optimiser).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from reid.errors import ReidError
from reid.gan.generator import Generator
from reid.io import load_torch_file

PERSON_SIZE = (128, 64)


def build_generator(settings: dict) -> Generator:
    """A generator with the architecture of a `gan:` params dict (as a snapshot stores it)."""
    return Generator(settings["z_dim"], settings["w_dim"], settings["resolution"], 3, settings["cfg"],
                     settings["channel_base"], settings["channel_max"],
                     img_width=settings.get("width") or settings["resolution"],  # width 0 (or absent): square
                     noise=settings.get("noise", True))  # snapshots from before gan.noise had noise inputs


def network_file(cur_nimg: int | None) -> str:
    """Name of the G_ema file saved at `cur_nimg` images; None gives the glob of all of them."""
    return "network-*kimg.pt" if cur_nimg is None else f"network-{cur_nimg / 1000:010.3f}kimg.pt"


def load_generator(path: str | Path, device: torch.device) -> tuple[Generator, dict]:
    """G_ema of a snapshot or network file written by `train_gan`, in eval mode, with its `gan:` params."""
    if not Path(path).is_file():
        raise ReidError(f"{path}: GAN snapshot not found; train the GAN first (reid train-gan or dvc repro train_gan)")
    state = load_torch_file(path, "GAN snapshot")
    if not isinstance(state, dict) or "G_ema" not in state or "config" not in state:
        raise ReidError(f"{path}: not a GAN snapshot of this project (no G_ema/config)")
    try:
        G = build_generator(state["config"])
        G.load_state_dict(state["G_ema"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ReidError(f"{path}: GAN snapshot does not match this project's generator ({type(exc).__name__})") from None
    return G.to(device).eval(), state["config"]


def resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Float images resized to (height, width): shrinking averages areas (no aliasing of thin limbs and
    stripes); enlarging is bicubic, which keeps edges that bilinear blurs (the 64x32 crops enlarged back to
    128x64: FID on re-ID features 2.89 bicubic, 3.65 bilinear, floor 2.86); a mixed change is antialiased bilinear."""
    if height <= images.shape[2] and width <= images.shape[3]:
        return F.interpolate(images, size=(height, width), mode="area")
    if height >= images.shape[2] and width >= images.shape[3]:
        return F.interpolate(images, size=(height, width), mode="bicubic", align_corners=False)
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def to_gan_size(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) person crops -> float (N, 3, height, width) in [-1, 1] (see `resize`)."""
    return resize(images.float().div(127.5).sub(1), height, width)


def to_person(images: torch.Tensor, height: int = PERSON_SIZE[0], width: int = PERSON_SIZE[1]) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 (N, 3, height, width), resized to the person crop size (see `resize`)."""
    return resize(images.float(), height, width).add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


@torch.no_grad()
def generate_images(G: Generator, z: torch.Tensor, device: torch.device, batch: int = 32, psi: float = 1.0):
    """uint8 person crops (N, 3, 128, 64) from latents `z`, batch by batch."""
    G.eval()
    return torch.cat([to_person(G(z[i : i + batch].to(device), psi).cpu()) for i in range(0, len(z), batch)])


def network_kimg(path: str | Path) -> float:
    """The kimg in a network file's name (see `network_file`)."""
    return float(Path(path).name.removeprefix("network-").removesuffix("kimg.pt"))
