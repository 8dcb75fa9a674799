"""Synthetic pretraining: the weights loader, the pretraining set, and `reid.pretrained: synthetic` through `dvc repro`."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dvc_project import REPO, commit_all, dvc, make_project, stages_run
from reid.data.index import read_index
from reid.data.prepare import PrepareConfig, prepare_dataset
from reid.engine.train import TrainConfig
from reid.errors import ReidError
from reid.models.baseline import ReidNet, load_pretrained, save_model
from reid.pipeline.pretrain import MODEL_FILE, NOT_REQUESTED, SET_DIR, PretrainConfig, PretrainSet, run_pretraining
from reid.pipeline.train_reid import run_training

TINY_SET = {"seed": 4, "ids": 5, "images_per_id": 4}
TINY_RECIPE = {"arch": "resnet18", "height": 32, "width": 16, "epochs": 1, "batch_size": 4}
RUN = {"device": "cpu", "checkpoint_every": 1}


def reid(*args, cwd):
    """The `reid` command line of this checkout (PYTHONPATH: not an installed copy elsewhere)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "reid.cli", *args], cwd=cwd, capture_output=True, text=True, env=env)


def _saved_model(path: Path, arch: str = "resnet18", classes: int = 3, bottleneck: int = 512) -> dict:
    """A project model file of random weights (seeded); returns its state dict."""
    torch.manual_seed(7)
    model = ReidNet(arch, classes, bottleneck)
    config = dataclasses.asdict(TrainConfig(arch=arch, bottleneck=bottleneck))
    save_model(model, config, list(range(1, classes + 1)), {"arch": arch}, path)
    return model.state_dict()


def test_a_project_model_starts_the_trunk_and_bottleneck_and_drops_the_classifier(tmp_path):
    saved = _saved_model(tmp_path / "model.pt")
    torch.manual_seed(0)
    model = ReidNet("resnet18", 5)  # other identities: another classifier shape
    classifier = model.head.classifier.weight.clone()
    report = load_pretrained(model, str(tmp_path / "model.pt"))
    state = model.state_dict()
    loaded = [k for k in saved if not k.startswith("head.classifier.")]
    assert report["init_format"] == "reid-model" and report["tensors_loaded"] == len(loaded)
    assert report["weights_init"] == "random"
    assert all(torch.equal(state[k], saved[k]) for k in loaded)
    assert torch.equal(model.head.classifier.weight, classifier)


@pytest.mark.parametrize("arch, bottleneck, message", [
    ("resnet34", 512, r"^\S+model\.pt: weights of a resnet18 re-ID model, not resnet34$"),
    ("resnet18", 256, r"^\S+model\.pt: not resnet18 re-ID weights \(0 missing, 0 unexpected, 6 mis-shaped tensors, "
                      r"e\.g\. head\.bottleneck\.0\.bias\)$"),
])
def test_a_model_of_another_shape_is_refused_in_one_line(tmp_path, arch, bottleneck, message):
    _saved_model(tmp_path / "model.pt")
    with pytest.raises(ReidError, match=message):
        load_pretrained(ReidNet(arch, 5, bottleneck), str(tmp_path / "model.pt"))


def test_synthetic_names_the_pretrain_model_and_says_when_there_is_none(tmp_path):
    saved = _saved_model(tmp_path / "pretrain.pt")
    model = ReidNet("resnet18", 4)
    assert load_pretrained(model, "synthetic", tmp_path / "pretrain.pt")["init_file"] == str(tmp_path / "pretrain.pt")
    assert torch.equal(model.backbone.conv1.weight, saved["backbone.conv1.weight"])
    assert load_pretrained(model, "") == {}
    with pytest.raises(ReidError, match=r"absent\.pt: no synthetically pretrained model; the pretrain stage"):
        load_pretrained(model, "synthetic", tmp_path / "absent.pt")
    with pytest.raises(ReidError, match="pretrain.init cannot be 'synthetic'"):
        PretrainConfig.from_params({"init": "synthetic"})


def test_the_pretraining_set_is_deterministic_and_is_the_embedded_training_split(tmp_path):
    config = PretrainSet(**TINY_SET)
    for name in ("a", "b"):
        prepare_dataset(config.prepare_config(64, 32), tmp_path / name, progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jpg"))
    assert len(files) == 5 * 4 + 4  # the training images and the generator's smallest test split (2 queries, 2 gallery)
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert (tmp_path / "a/index.csv").read_bytes() == (tmp_path / "b/index.csv").read_bytes()

    other = PretrainSet(**{**TINY_SET, "seed": 5})
    prepare_dataset(other.prepare_config(64, 32), tmp_path / "c", progress=False)
    images = {seed: {p.read_bytes() for p in (tmp_path / root / "bounding_box_train").iterdir()}
              for seed, root in ((4, "a"), (5, "c"))}
    assert len(images[4]) == len(images[5]) == 20 and not images[4] & images[5]

    embedded = {"train_ids": 5, "images_per_id": 4, "test_ids": 3, "gallery_per_id": 3, "distractors": 2, "junk": 1}
    prepare_dataset(PrepareConfig(seed=4, height=64, width=32, synthetic=embedded), tmp_path / "data", False)
    for split in ("train", "val"):
        mine, theirs = (read_index(tmp_path / root) for root in ("a", "data"))
        mine, theirs = mine[mine.split == split], theirs[theirs.split == split]
        assert len(mine) == len(theirs) > 0
        assert all(Path(p).read_bytes() == Path(q).read_bytes() for p, q in zip(mine.path, theirs.path))


def test_pretraining_runs_only_when_requested_and_resumes(tmp_path):
    values = {**TINY_RECIPE, "synthetic": TINY_SET}
    args = (RUN, tmp_path / "pretrain", tmp_path / "checkpoints", tmp_path / "pretrain.json")
    skipped = run_pretraining(values, "", *args, progress=False)
    assert skipped["trained"] is False
    assert sorted(p.name for p in (tmp_path / "pretrain").iterdir()) == [".reid-output", NOT_REQUESTED]
    assert not (tmp_path / "checkpoints").exists()

    first = run_pretraining(values, "synthetic", *args, progress=False)
    assert first["trained"] and first["run"] == "fresh" and first["init"] == "random"
    assert first["synthetic_images"] == 20 and first["num_classes"] == 5
    assert set(first["seconds_per_1000_images"]) == {"generate", "train_one_epoch", "generate_and_train"}
    weights = torch.load(tmp_path / "pretrain" / MODEL_FILE, weights_only=True)["state_dict"]
    assert (tmp_path / "pretrain" / SET_DIR / "index.csv").is_file()
    again = run_pretraining(values, "synthetic", *args, progress=False)  # as after a killed stage: same key
    assert again["run"] == "complete"
    resumed = torch.load(tmp_path / "pretrain" / MODEL_FILE, weights_only=True)["state_dict"]
    assert all(torch.equal(resumed[k], weights[k]) for k in weights)


def test_fine_tuning_starts_from_the_pretrained_model(tmp_path, market_root):
    """Defect guard: `synthetic` must reach train_reid's weights, not only its metrics."""
    values = {**TINY_RECIPE, "synthetic": TINY_SET}
    run_pretraining(values, "synthetic", RUN, tmp_path / "pretrain", tmp_path / "ck", tmp_path / "p.json", False)
    prepare_dataset(PrepareConfig(source="market1501", market1501_root=str(market_root)), tmp_path / "real", False)
    recipe = {**TINY_RECIPE, "lr_backbone": 0.0, "pretrained": "synthetic"}  # a frozen trunk keeps the start
    summary = run_training(recipe, RUN, tmp_path / "real", tmp_path / "model.pt", tmp_path / "ck2", tmp_path / "m",
                           False, synthetic_model=tmp_path / "pretrain" / MODEL_FILE)
    assert summary["init"] == "synthetic" and summary["init_format"] == "reid-model"
    pretrained = torch.load(tmp_path / "pretrain" / MODEL_FILE, weights_only=True)["state_dict"]
    tuned = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert torch.equal(tuned["backbone.conv1.weight"], pretrained["backbone.conv1.weight"])
    assert tuned["head.classifier.weight"].shape[0] == 3 != pretrained["head.classifier.weight"].shape[0]


def test_reid_pretrained_synthetic_as_a_dvc_experiment_on_a_market_folder(tmp_path, market_root):
    """Issue 14's command with `data.source=market1501` pointing at a Market-format folder: pretraining on the
    embedded set runs once, train_reid fine-tunes from it, evaluate reports the init (the default: test_pipeline)."""
    root = make_project(tmp_path / "project", {"reid": {"lr_backbone": 0.005}})
    commit_all(root, "tiny project")

    done = dvc("exp", "run", "evaluate", "-S", "reid.pretrained=synthetic", "-S", "data.source=market1501",
               "-S", f"data.market1501_root={market_root}", cwd=root)
    assert sorted(stages_run(done)) == ["evaluate", "prepare", "pretrain", "train_reid"]  # pretraining once
    assert json.loads((root / "metrics/pretrain.json").read_text())["trained"] is True
    assert (root / "data/pretrain/model.pt").is_file() and (root / "runs/checkpoints/pretrain/last.pt").is_file()
    assert json.loads((root / "metrics/train.json").read_text())["init"] == "synthetic"
    evaluated = json.loads((root / "metrics/eval.json").read_text())
    assert evaluated["init"] == "synthetic" and evaluated["num_query"] == 2  # the Market folder's 2 queries


def test_cli_pretrains_and_trains_from_it(tmp_path, market_root):
    """`reid pretrain` then `reid train --pretrained synthetic`, outside DVC (the repository's params, tiny sizes)."""
    params = ["--params", str(REPO / "params.yaml"), "--device", "cpu", "--no-progress"]
    small = ["--set", "height=32", "--set", "width=16", "--set", "batch_size=4"]
    done = reid("prepare", "--source", "market1501", "--market-root", str(market_root), "--output", "real",
                "--params", str(REPO / "params.yaml"), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = reid("pretrain", "--ids", "4", "--epochs", "1", "--set", "synthetic.images_per_id=4", *small, *params,
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs/pretrain/model.pt").is_file()
    done = reid("train", "--data", "real", "--pretrained", "synthetic", "--epochs", "1", *small, *params, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "runs/reid/train.json").read_text())["init"] == "synthetic"
    done = reid("train", "--data", "real", "--pretrained", "synthetic", "--set", "arch=resnet34", *small, *params,
                cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: runs/pretrain/model.pt: weights of a resnet18 re-ID model, not resnet34")
