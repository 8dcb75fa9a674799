"""Run-time compute choice: CUDA when present, CPU otherwise, never hard-coded; the CPU cores we may use."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from reid.errors import ReidError

if TYPE_CHECKING:
    import torch


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` picks cuda when available; `cpu`, `cuda` or `cuda:N` are taken as asked."""
    import torch  # here, so that stages without a network (prepare, filters) do not load torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ReidError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ReidError(f"device {requested!r} requested but CUDA is not available on this machine")
    return device


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, as under taskset or cgroups)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
