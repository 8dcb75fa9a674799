"""Loss terms against training steps, train and validation, one panel per term (thesis Tables 5.7-5.8 as curves).

PNG, as the re-ID curves are, so that `dvc plots diff` shows them offline.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reid.io import atomic_path


def save_loss_curves(history: pd.DataFrame, terms: list[str], path: str | Path, x: str = "step") -> None:
    """`history` has columns `x`, train_<term> and val_<term> for every term; one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(terms), figsize=(3.2 * len(terms), 3.0), squeeze=False)
    for ax, term in zip(axes[0], terms):
        ax.plot(history[x], history[f"train_{term}"], label="train")
        ax.plot(history[x], history[f"val_{term}"], label="val (held-out)")
        ax.set_title(term, fontsize=10)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)
