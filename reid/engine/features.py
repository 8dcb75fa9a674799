"""Test-time features: bottleneck of the image plus its mirror, summed, L2-normalised.

Images are decoded batch by batch so that Market-1501's 19,732 gallery images
never sit in memory at the model's input size.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from reid.data.images import load_images, normalize
from reid.models.baseline import ReidNet
from reid.progress import progress_bar


@torch.no_grad()
def extract_features(
    model: ReidNet,
    paths: Sequence[str],
    height: int,
    width: int,
    device: torch.device,
    batch_size: int = 64,
    desc: str = "",
) -> np.ndarray:
    """(N, bottleneck) float32, rows of unit length."""
    model.eval()
    chunks = []
    for start in progress_bar(range(0, len(paths), batch_size), desc=desc, unit="batch", disable=not desc):
        chunks.append(image_features(model, load_images(paths[start : start + batch_size], height, width), device))
    return torch.cat(chunks).numpy()


@torch.no_grad()
def image_features(model: ReidNet, pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Test features (CPU) of uint8 images (N, 3, H, W) already at the model's input size, e.g. reconstructions."""
    model.eval()
    inputs = normalize(pixels, device)
    feature = model.features(inputs) + model.features(inputs.flip(-1))
    return torch.nn.functional.normalize(feature, dim=1).cpu()


def raw_pixel_features(paths: Sequence[str], height: int = 128, width: int = 64) -> np.ndarray:
    """Flattened, L2-normalised pixels: the learning-free baseline a model must beat."""
    pixels = load_images(paths, height, width).reshape(len(paths), -1).float()
    return torch.nn.functional.normalize(pixels, dim=1).numpy()


def cosine_distance(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of unit-length rows, float32 (lower = more similar)."""
    return (1.0 - query.astype(np.float32) @ gallery.astype(np.float32).T).astype(np.float32, copy=False)
