"""End to end, the augmented half: `dvc exp run -S aug.*` in its own tiny project (beside test_pipeline.py, so the
two run in parallel under pytest-xdist)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dvc_project import commit_all, dvc, make_project, stages_run

KEEP_EVERYTHING = {"filter": {"detector": {"threshold": -1000.0}, "ssim": {"threshold": -1.0}}}  # the tiny GAN's
# images are blobs that the calibrated detector rejects; these thresholds let every one through


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"), KEEP_EVERYTHING)


def test_aug_experiment_reruns_only_the_augmented_stages(workspace):
    """Issue 11: `dvc exp run -S aug.persons=N` assembles, trains and evaluates the augmented model, nothing upstream."""
    dvc("repro", cwd=workspace)
    commit_all(workspace, "baseline")
    baseline_model = (workspace / "data/reid/model.pt").read_bytes()

    done = dvc("exp", "run", "-S", "aug.persons=2", "-S", "aug.labeling=lsro", cwd=workspace)
    assert sorted(stages_run(done)) == ["assemble", "evaluate_augmented", "train_augmented"]
    counts = json.loads((workspace / "metrics/assemble.json").read_text())
    assert counts["persons_added"] == 2 and counts["person_images_added"] == 8 and counts["labeling"] == "lsro"
    assert counts["classes"] == counts["real_persons"]  # LSRO adds no class
    assert json.loads((workspace / "metrics/aug_train.json").read_text())["reused_baseline"] is False
    assert (workspace / "data/reid/model.pt").read_bytes() == baseline_model
    assert (workspace / "data/reid_aug/model.pt").read_bytes() != baseline_model
    changed = json.loads(dvc("metrics", "diff", "--json", cwd=workspace).stdout)
    assert changed["metrics/assemble.json"]["images_added"] == {"old": 0, "new": 8, "diff": 8}
    assert "metrics/aug_eval.json" in changed and "metrics/eval.json" not in changed

    done = dvc("exp", "run", "-S", "aug.images_per_person=3", cwd=workspace)
    # invert already ran in dvc repro
    assert sorted(stages_run(done)) == ["assemble", "evaluate_augmented", "train_augmented"]
    counts = json.loads((workspace / "metrics/assemble.json").read_text())
    assert counts["variant_persons"] == counts["real_persons"] and counts["variant_images_added"] == 3 * 8
    assert counts["variant_persons_short"] == 0  # more than the pool holds: tests/test_assemble.py
