"""Differentiable Augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

D sees every image, real or generated, through the same random, differentiable
transforms, so that it cannot memorise a small training set while G still gets
gradients through them (§3 of the paper). The three transforms of the paper:

- color: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5);
- translation: integer shift by up to 1/8 of each side, zero fill;
- cutout: one zeroed rectangle of half the height and width at a random centre.

A policy is a comma-separated list of these names; "" turns augmentation off.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reid.errors import ReidError


def _color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean([1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    dy, dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-dy, dy + 1, (n, 1, 1), device=x.device)
    shift_x = torch.randint(-dx, dx + 1, (n, 1, 1), device=x.device)
    # Index the zero-padded image: output pixel (i, j) reads input (i - shift_y, j - shift_x).
    rows = (torch.arange(h, device=x.device).view(1, h, 1) - shift_y + dy).expand(n, h, w)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) - shift_x + dx).expand(n, h, w)
    padded = F.pad(x, [dx, dx, dy, dy])
    samples = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[samples, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """Names of a policy string, checked ("" -> no transform)."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in TRANSFORMS]
    if unknown:
        raise ReidError(f"params: gan.augment has unknown transform {unknown[0]!r}; choose from {', '.join(TRANSFORMS)}")
    return names


def diff_augment(images: torch.Tensor, policy: str) -> torch.Tensor:
    """Images (N, C, H, W) through the policy's transforms, each drawn per image; the identity for ""."""
    for name in parse_policy(policy):
        images = TRANSFORMS[name](images)
    return images.contiguous()
