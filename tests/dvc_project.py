"""Helpers shared by the end-to-end tests: the project copied into a temporary git + DVC repository with tiny params."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_PARAMS = {
    "data": {"synthetic": {"train_ids": 8, "test_ids": 6, "images_per_id": 6, "gallery_per_id": 4,
                           "distractors": 5, "junk": 3}},
    "run": {"checkpoint_every": 1, "batch": 8, "filter_batch": 16},
    "reid": {"arch": "resnet18", "height": 64, "width": 32, "epochs": 2, "batch_size": 8},
    "pretrain": {"synthetic": {"ids": 5, "images_per_id": 4}, "height": 64, "width": 32, "epochs": 1, "batch_size": 4},
    "gan": {"resolution": 16, "width": 8, "channel_base": 256, "channel_max": 16, "batch": 8, "kimg": 0.064, "tick_kimg": 0.032,
            "snap": 1},
    "gan_eval": {"num_images": 20, "grid": 2},
    "gen": {"persons": 3, "images_per_person": 4, "grid_persons": 2},
    "filter": {"grid": 6},
    "encoder": {"channels": 4, "fpn_channels": 8, "steps": 4, "batch": 4, "log_every": 2, "val_images": 4},
    "invert": {"variations_per_person": 4, "grid_persons": 2},
}
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}


def merge(base: dict, update: dict) -> dict:
    """`update` merged into `base` recursively (dicts merge, other values replace)."""
    for key, value in update.items():
        base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def run(args, cwd, check=True, env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1", **(env or {})}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def dvc(*args, cwd, check=True, env=None):
    return run([sys.executable, "-m", "dvc", *args], cwd, check, env)


def commit_all(root: Path, message: str) -> None:
    """`git add -A` and commit: the state `dvc exp run` starts from."""
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", message], root)


def stages_run(done: subprocess.CompletedProcess) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` ran, in order, once per run (not those it skipped or restored from
    the run cache)."""
    return [line.split("'")[1] for line in done.stdout.splitlines() if line.startswith("Running stage")]


def make_project(root: Path, params: dict | None = None) -> Path:
    """A copy of the project (code, dvc.yaml, tiny params updated by `params`) in `root`, as a fresh git + DVC
    repository."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    for name in ("stages", "reid", "data/external"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    values = merge(merge(yaml.safe_load((root / "params.yaml").read_text()), TINY_PARAMS), params or {})
    (root / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    run(["git", "init", "-q"], root)
    dvc("init", "-q", cwd=root)
    dvc("config", "core.analytics", "false", cwd=root)
    return root
