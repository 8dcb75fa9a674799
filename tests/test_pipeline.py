"""End to end: the real dvc.yaml in a temporary git repository, with tiny params."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from dvc_project import commit_all, dvc, make_project, run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A copy of the project (code, dvc.yaml, params) as a fresh git + DVC repository."""
    return make_project(tmp_path_factory.mktemp("project"))


def test_repro_evaluates_and_is_idempotent(workspace):
    done = dvc("repro", cwd=workspace)
    assert "Rank@1:" in done.stdout and "mAP:" in done.stdout
    metrics = json.loads((workspace / "metrics/eval.json").read_text())
    for key in ("rank1", "rank5", "rank10", "mAP", "mAP_trapezoid", "mINP"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["rank1"] <= metrics["rank5"] <= metrics["rank10"]
    assert metrics["model"] == {"arch": "resnet18", "pretrained": False, "input": [64, 32]}
    assert metrics["init"] == json.loads((workspace / "metrics/train.json").read_text())["init"] == "random"
    assert json.loads((workspace / "metrics/pretrain.json").read_text())["trained"] is False  # nothing pretrained
    assert [p.name for p in (workspace / "data/pretrain").iterdir() if p.name != ".reid-output"] == ["not-requested.txt"]
    assert metrics["thesis_line"] in done.stdout
    assert "raw_pixel_baseline" in metrics
    log = (workspace / "metrics/train_log.tsv").read_text().splitlines()
    assert log[0].split("\t")[:4] == ["epoch", "lr", "train_loss", "val_loss"] and len(log) == 3
    assert (workspace / "data/reid/model.pt").is_file()
    assert (workspace / "dvc.lock").is_file()
    gan = json.loads((workspace / "metrics/gan.json").read_text())
    assert gan["fid_backbone"] == "reid-resnet18" and gan["last_kimg"] == 0.064 and gan["fid"] > 0 and gan["fid_real_floor"] > 0
    fid_curve = (workspace / "metrics/gan_fid.tsv").read_text().splitlines()
    assert fid_curve[0] == ("kimg\tdetector_acceptance\tfid\tfid_at_gan_size\tfid_real_floor\tfid_gan_size_floor\t"
                            "detector_acceptance_real")
    assert gan["gan_size"] == [16, 8] and min(gan["fid_at_gan_size"], gan["fid_gan_size_floor"]) > 0
    assert gan["fid_resolution_floor"] > 0  # the tiny GAN's 16x8 loses detail the crops have
    assert len(fid_curve) == 3  # a row per network file
    assert json.loads((workspace / "metrics/gan_train.json").read_text())["run"] == "fresh"
    assert (workspace / "data/gan/snapshot.pt").is_file() and (workspace / "data/gan_eval/grid.png").is_file()
    # the network generate uses: the most accepted of the run's network files near the best FID, measured again
    shares, fids = zip(*[map(float, line.split("\t")[1:3]) for line in fid_curve[1:]])
    near_best = [i for i in range(len(fids)) if fids[i] <= (1 + gan["fid_tolerance"]) * min(fids)]
    chosen = max(near_best, key=lambda i: (shares[i], i))
    assert gan["chosen_by"] == "detector" and gan["kimg"] == float(fid_curve[1 + chosen].split("\t")[0])
    assert gan["detector_acceptance_at_choice"] == round(shares[chosen], 4)
    assert (workspace / "data/gan_eval/network.pt").read_bytes() == (
        workspace / f"data/gan/network-{gan['kimg']:010.3f}kimg.pt").read_bytes()
    manifest = (workspace / "data/generated/manifest.csv").read_text().splitlines()
    real_pids = {int(line.split(",")[1]) for line in (workspace / "data/prepared/index.csv").read_text().splitlines()[1:]}
    assert len(manifest) == 1 + 12 and int(manifest[1].split(",")[1]) == max(real_pids) + 1
    assert manifest[1].startswith("images-000.tar/")  # the images in one tar shard, the filter's lists name them
    assert {p.name for p in (workspace / "data/generated").iterdir()} == {
        ".reid-output", "images-000.tar", "manifest.csv", "grid.png"}
    assert not (workspace / "data/filtered/kept").exists() and (workspace / "data/filtered/scores.csv").is_file()
    screened = json.loads((workspace / "metrics/filter.json").read_text())
    assert screened["generated"] == 12 and screened["kept"] + screened["discarded_total"] == 12
    assert "hog pedestrian detection" in done.stdout
    calibration = json.loads((workspace / "metrics/calibration.json").read_text())
    assert calibration["detector"] == "hog" and calibration["real_images"] > 0
    # threshold auto: the filter and the GAN measure use the threshold calibrated on this data set's real images
    assert screened["detector_threshold"] == gan["detector_threshold"] == calibration["suggested_threshold"]
    assert screened["detector_threshold_source"].startswith("auto: rejects at most 7%")
    assert screened["ssim_threshold"] == calibration["suggested_ssim_threshold"] is not None  # SSIM likewise
    assert screened["ssim_threshold_source"].startswith("auto: rejects at most 7% of")
    assert 0 <= gan["detector_acceptance"] <= 1 and gan["detector_acceptance_real"] >= 0.5
    assert (workspace / "metrics/detector_calibration.tsv").read_text().startswith("threshold\trejected_pct")
    # aug adds nothing by default: the augmented model is the baseline's file, not a second training
    assert (workspace / "data/reid_aug/model.pt").read_bytes() == (workspace / "data/reid/model.pt").read_bytes()
    assert json.loads((workspace / "metrics/aug_train.json").read_text())["reused_baseline"] is True
    encoder = json.loads((workspace / "metrics/encoder.json").read_text())
    assert encoder["run"] == "fresh" and "not LPIPS" in encoder["perceptual_backbone"]
    assert (workspace / "data/encoder/reconstructions.png").is_file()
    inverted = json.loads((workspace / "metrics/invert.json").read_text())
    assert inverted["generated"] == 8 * 4 and inverted["kept"] + inverted["discarded_total"] == 32
    assert inverted["ssim_threshold"] == screened["ssim_threshold"]  # invert screens with the same calibrated SSIM
    augmented = json.loads((workspace / "metrics/aug_eval.json").read_text())
    assert augmented["thesis_line"] == metrics["thesis_line"] and set(augmented["vs_baseline"].values()) == {0.0}
    assert json.loads((workspace / "metrics/assemble.json").read_text())["images_added"] == 0
    for curves in ("train_curves.png", "aug_train_curves.png"):
        assert (workspace / "metrics" / curves).read_bytes().startswith(b"\x89PNG")

    again = dvc("repro", cwd=workspace)
    assert "Running stage" not in again.stdout
    assert "Data and pipelines are up to date" in dvc("status", cwd=workspace).stdout


def _stale_stages(workspace) -> set[str]:
    status = json.loads(dvc("status", "--json", cwd=workspace).stdout or "{}")
    return {name.split(":")[-1] for name in status}


def test_params_rerun_only_the_stages_that_read_them(workspace):
    """Defect: run-time settings and other stages' sub-keys reran stages; GAN measuring was part of training."""
    original = (workspace / "params.yaml").read_text()
    changes = {("run", "device"): ("cpu", set()),
               ("gan_eval", "num_images"): (12, {"evaluate_gan"}),
               ("filter", "target_rejection"): (0.05, {"calibrate_filters"}),
               ("filter", "grid"): (4, {"filter"})}
    try:
        for (group, key), (value, expected) in changes.items():
            params = yaml.safe_load(original)
            params[group][key] = value
            (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            assert _stale_stages(workspace) == expected, (group, key)
    finally:
        (workspace / "params.yaml").write_text(original)


def test_code_change_retrains_and_reevaluates(workspace):
    """Defect: after a model-code change DVC reran train_reid, which found its checkpoint complete and trained nothing."""
    baseline = workspace / "reid/models/baseline.py"
    original = baseline.read_text()
    try:
        baseline.write_text(original + "\n# a change to the model code\n")
        # not invert: it runs no re-ID model code (it imported it only through the GAN training module)
        assert _stale_stages(workspace) == {"pretrain", "train_reid", "evaluate", "train_gan", "evaluate_gan",
                                            "train_encoder", "train_augmented", "evaluate_augmented"}
        done = dvc("repro", "evaluate", cwd=workspace)  # the stages after it rerun alike (their deps are listed above)
        assert "Running stage 'train_reid'" in done.stdout and "Running stage 'evaluate'" in done.stdout
        assert "Running stage 'train_gan'" not in done.stdout
        assert json.loads((workspace / "metrics/train.json").read_text())["run"] == "fresh"
    finally:
        baseline.write_text(original)
    dvc("repro", cwd=workspace)


def test_experiment_changes_training(workspace):
    """Defect: the old test compared a params value copied into train.json, true even if training ignored it."""
    commit_all(workspace, "baseline")
    before = (workspace / "metrics/train_log.tsv").read_text().splitlines()
    dvc("exp", "run", "evaluate", "-S", "reid.epochs=1", cwd=workspace)  # what follows evaluate reruns alike
    after = (workspace / "metrics/train_log.tsv").read_text().splitlines()
    assert len(before) == 3 and len(after) == 2  # one epoch was trained, not two reused
    changed = json.loads(dvc("metrics", "diff", "--json", cwd=workspace).stdout)
    assert changed["metrics/train.json"]["final_train_loss"]["diff"] != 0
    assert json.loads((workspace / "metrics/train.json").read_text())["run"] == "fresh"


def test_run_cache_restores_a_model_trained_before(workspace):
    """Seed grids train each baseline once: back at the committed params, DVC's run cache checks the model out."""
    committed = run(["git", "show", "HEAD:dvc.lock"], workspace).stdout
    done = dvc("exp", "run", "-S", "reid.epochs=2", cwd=workspace)
    assert "Stage 'train_reid' is cached - skipping run" in done.stdout
    assert "Running stage 'train_reid'" not in done.stdout
    assert (workspace / "dvc.lock").read_text() == committed
    # the GAN too: its resumable run lives outside data/gan, which DVC can then cache
    seed = yaml.safe_load((workspace / "params.yaml").read_text())["gan"]["seed"]
    other = dvc("exp", "run", "train_gan", "-S", f"gan.seed={seed + 1}", cwd=workspace)
    assert "Running stage 'train_gan'" in other.stdout
    back = dvc("exp", "run", "train_gan", "-S", f"gan.seed={seed}", cwd=workspace)
    assert "Stage 'train_gan' is cached - skipping run" in back.stdout
    assert (workspace / "dvc.lock").read_text() == committed


def test_bad_params_fail_with_one_line(workspace):
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["data"]["source"] = "imagenet"
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = run([sys.executable, "-m", "stages.prepare"], workspace, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: params: data.source must be one of ('synthetic', 'market1501'), got 'imagenet'"
