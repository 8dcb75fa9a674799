"""Image grids for sample sheets (GAN samples, generated persons, filter verdicts)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from reid.io import atomic_path


def save_grid(images, path: str | Path, columns: int) -> None:
    """uint8 images (N, 3, H, W) tensor or (N, H, W, 3) array -> one PNG grid, written atomically.

    Empty cells (N not a multiple of `columns`) stay black.
    """
    array = np.asarray(images)
    if array.ndim != 4 or len(array) == 0:
        raise ValueError(f"save_grid needs a non-empty batch of images, got shape {array.shape}")
    if array.shape[1] == 3 and array.shape[-1] != 3:
        array = array.transpose(0, 2, 3, 1)
    n, h, w, _ = array.shape
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    canvas = np.zeros((rows * h, columns * w, 3), dtype=np.uint8)
    for i, image in enumerate(array):
        r, c = divmod(i, columns)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = image
    with atomic_path(path) as tmp:
        Image.fromarray(canvas).save(tmp, format="PNG")
