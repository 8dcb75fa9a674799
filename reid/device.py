"""Run-time device choice: CUDA when present, CPU otherwise, never hard-coded."""

from __future__ import annotations

import torch

from reid.errors import ReidError


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` picks cuda when available; `cpu`, `cuda` or `cuda:N` are taken as asked."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ReidError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ReidError(f"device {requested!r} requested but CUDA is not available on this machine")
    return device
