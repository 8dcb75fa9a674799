"""Per-epoch training curves as PNG (thesis Figs 5.17-5.20, 5.23-5.25): loss and top-1 error, train and val.

PNG rather than DVC's Vega plots so that `dvc plots diff` shows them offline
(Vega's HTML loads its scripts from a CDN); one row per labelled run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reid.io import atomic_path

PANELS = (("loss", "train_loss", "val_loss"), ("top-1 error", "train_top1_err", "val_top1_err"))


def save_training_curves(histories: dict[str, pd.DataFrame], path: str | Path) -> None:
    """One row per run (label -> per-epoch table with epoch, train/val loss and top-1 error), two panels a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("save_training_curves needs at least one run")
    figure, axes = plt.subplots(len(histories), 2, figsize=(9, 3.2 * len(histories)), squeeze=False)
    for row, (label, history) in enumerate(histories.items()):
        for column, (name, train_key, val_key) in enumerate(PANELS):
            ax = axes[row][column]
            ax.plot(history.epoch, history[train_key], label="train")
            ax.plot(history.epoch, history[val_key], label="val")
            ax.set_title(f"{label}: {name}", fontsize=10)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
