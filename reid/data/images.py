"""Image loading and the recipe's train-time augmentation, on uint8 tensors.

Person crops are small (128x64, Market-1501 has ~13k training images), so the
training set is decoded once into one uint8 tensor and augmented per batch
with an explicit torch.Generator: no worker processes, exact determinism, and
a resume can restore the generator state.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from reid.data.shards import read_image_bytes
from reid.progress import progress_bar

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_image(path: str | Path, height: int, width: int) -> np.ndarray:
    """RGB uint8 array (H, W, 3) of a file or shard member, resized bicubically when it is another size."""
    with Image.open(io.BytesIO(read_image_bytes(path))) as image:
        image = image.convert("RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        return np.array(image)


def load_images(
    paths: Sequence[str | Path], height: int, width: int, progress: bool = False, desc: str = "load"
) -> torch.Tensor:
    """Decode images into one uint8 tensor shaped (N, 3, H, W)."""
    batch = torch.empty((len(paths), 3, height, width), dtype=torch.uint8)
    for i, path in enumerate(progress_bar(paths, desc=desc, unit="img", disable=not progress)):
        batch[i] = torch.from_numpy(load_image(path, height, width)).permute(2, 0, 1)
    return batch


def augment(batch: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by `pad`, take a random crop of the original size, flip half: per image."""
    n, _, height, width = batch.shape
    padded = F.pad(batch, (pad, pad, pad, pad))
    tops = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    lefts = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(batch)
    for i in range(n):
        crop = padded[i, :, tops[i] : tops[i] + height, lefts[i] : lefts[i] + width]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def normalize(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float on `device`, ImageNet mean/std normalised."""
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (batch.to(device, non_blocking=True).float().div_(255.0) - mean) / std
