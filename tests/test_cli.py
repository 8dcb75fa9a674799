"""The `reid` command line: help texts and one-line errors with nothing written."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch
from conftest import tiny_generator

from reid.gan.training import GanConfig
from reid.pipeline.prepare import run_prepare


def reid(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "reid.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_every_option_is_explained():
    from typer.main import get_command

    from reid.cli import app

    commands = dict(get_command(app).commands)
    assert {"prepare", "train", "evaluate", "train-gan", "evaluate-gan", "generate", "filter"} <= set(commands)
    commands.update({f"filter {k}": v for k, v in commands["filter"].commands.items()})
    assert "filter calibrate" in commands
    for name, command in commands.items():
        assert command.help, name
        for param in command.params:
            assert param.help and len(param.help) > 10, f"reid {name} {param.opts}: no help"
    assert reid("train", "--help").returncode == 0
    assert reid("filter", "calibrate", "--help").returncode == 0


def test_prepare_bad_root_is_one_line_and_writes_nothing(tmp_path):
    done = reid("prepare", "--source", "market1501", "--market-root", str(tmp_path / "missing"),
                "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'missing'}: Market-1501 root folder not found"
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_prepare_bad_image_names_the_file(market_root, tmp_path):
    bad = market_root / "query" / "0010_c1s1_000010_00.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    done = reid("prepare", "--source", "market1501", "--market-root", str(market_root),
                "--output", str(tmp_path / "out"), "--no-progress", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {bad}: corrupt or truncated image")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_train_and_evaluate_without_inputs(tmp_path):
    done = reid("train", "--data", str(tmp_path / "nothing"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'nothing' / 'index.csv'}: index not found; " \
        "run the prepare stage (reid prepare) first"
    done = reid("evaluate", "--data", str(tmp_path), "--model", str(tmp_path / "m.pt"), cwd=tmp_path)
    assert done.returncode == 2 and "index not found" in done.stderr
    done = reid("train-gan", "--data", str(tmp_path / "nothing"), "--output", str(tmp_path / "gan"), cwd=tmp_path)
    assert done.returncode == 2 and "index not found" in done.stderr
    assert not (tmp_path / "gan").exists()


def test_bad_set_and_unknown_key(market_root, tmp_path):
    done = reid("prepare", "--set", "oops", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "error: --set expects key=value, got 'oops'"
    done = reid("prepare", "--set", "sourse=synthetic", cwd=tmp_path)
    assert done.returncode == 2 and "unknown key data.sourse" in done.stderr


def test_generate_filter_and_calibrate_outside_dvc(market_root, tmp_path):
    snapshot = tmp_path / "snapshot.pt"
    config = GanConfig(resolution=16, channel_base=256, channel_max=16, z_dim=16, w_dim=16)
    torch.save({"G_ema": tiny_generator().state_dict(), "config": dataclasses.asdict(config)}, snapshot)
    no_params = ["--params", str(tmp_path / "none.yaml")]
    done = reid("generate", "--snapshot", str(snapshot), "--persons", "2", "--images-per-person", "3",
                "--first-pid", "5", "--output", str(tmp_path / "gen"), "--no-progress", *no_params, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = (tmp_path / "gen" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 7 and manifest[1].startswith("images-000.tar/0005/0005_c1s1_000000_00.jpg,5,1,0,-1,seed")
    assert (tmp_path / "gen" / "grid.png").is_file() and (tmp_path / "gen" / "images-000.tar").is_file()

    done = reid("filter", "--input", str(tmp_path / "gen"), "--output", str(tmp_path / "kept"), "--no-progress",
                "--set", "detector={backend: hog, threshold: -100}", "--set", "ssim={threshold: 0}", *no_params,
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "TOTAL" in done.stdout and "kept 6 of 6 images" in done.stdout
    scores = (tmp_path / "kept" / "scores.csv").read_text().splitlines()
    assert len(scores) == 7 and all(line.endswith(",kept") for line in scores[1:])

    run_prepare({"source": "market1501", "market1501_root": str(market_root)}, tmp_path / "prepared", False)
    done = reid("filter", "--no-progress", *no_params, "calibrate", "--data", str(tmp_path / "prepared"),
                "--metrics-dir", str(tmp_path / "m"), "--target-rejection", "0.25", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    calibration = json.loads((tmp_path / "m" / "calibration.json").read_text())
    assert calibration["target_rejection"] == 0.25 and calibration["detector"] == "hog"
    assert f"threshold {calibration['suggested_threshold']} rejects at most 25.00%" in done.stdout

    done = reid("generate", "--snapshot", str(tmp_path / "none.pt"), "--first-pid", "5", "--output",
                str(tmp_path / "gen2"), *no_params, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {tmp_path / 'none.pt'}: GAN snapshot not found; " \
        "train the GAN first (reid train-gan or dvc repro train_gan)"
    assert not (tmp_path / "gen2").exists()

    done = reid("filter", "--input", str(tmp_path / "missing"), *no_params, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == \
        f"error: {tmp_path / 'missing' / 'manifest.csv'}: manifest not found; generate the images first (reid generate)"


def test_prepare_refuses_a_folder_it_did_not_write(tmp_path):
    """Defect: --output replaced an existing folder whole, deleting the user's files."""
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    done = reid("prepare", "--output", str(foreign), "--no-progress", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "was not written by this project" in done.stderr
    assert (foreign / "thesis.tex").read_text() == "years of work" and len(list(foreign.iterdir())) == 1


def test_cli_refuses_to_overwrite_dvc_outputs(tmp_path):
    """Defect: `reid train --output data/reid/model.pt` overwrote a DVC-tracked output."""
    (tmp_path / "dvc.yaml").write_text("stages:\n  train_reid:\n    cmd: x\n    outs:\n      - data/reid/model.pt\n")
    done = reid("train", "--output", "data/reid/model.pt", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: data/reid/model.pt: holds outputs of DVC stage 'train_reid'")
    done = reid("train", "--metrics-dir", "data", "--data", str(tmp_path / "none"), cwd=tmp_path)
    assert done.returncode == 2 and "DVC stage 'train_reid'" in done.stderr


@pytest.mark.parametrize("pair, message", [
    ("seed=[1,", "error: --set seed=[1,: value is not valid YAML"),
    ("synthetic=5", "error: params: data.synthetic must be a mapping"),
    ("synthetic.train_ids=many", "error: params: data.synthetic.train_ids must be an int, got 'many'"),
])
def test_bad_set_values_are_one_line_errors(tmp_path, pair, message):
    done = reid("prepare", "--output", str(tmp_path / "out"), "--set", pair, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("pair, message", [
    ("detector=hog", "params: filter.detector must be a mapping"),
    ("target_rejection=1", "params: filter.target_rejection must be in [0, 1), got 1.0"),
    ("ssim.threshold=.nan", "params: filter.ssim.threshold must be float or str, got nan"),
])
def test_bad_filter_settings_are_one_line_errors(tmp_path, pair, message):
    done = reid("filter", "--input", str(tmp_path), "--output", str(tmp_path / "out"), "--set", pair, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_generate_refuses_layer_groups_of_the_wrong_type(tmp_path):
    done = reid("generate", "--first-pid", "5", "--output", str(tmp_path / "g"), "--set", "layers={fine: 3}",
                cwd=tmp_path)
    assert done.returncode == 2 and "params: gen.layers.fine must be a list of int, got 3" in done.stderr


def test_evaluate_gan_without_a_run_is_one_line(market_root, tmp_path):
    run_prepare({"source": "market1501", "market1501_root": str(market_root)}, tmp_path / "prepared", False)
    (tmp_path / "calibration.json").write_text(json.dumps(
        {"detector": "hog", "suggested_threshold": 1.0, "real_images": 12, "target_rejection": 0.07}))
    done = reid("evaluate-gan", "--data", str(tmp_path / "prepared"), "--run-dir", str(tmp_path / "gan"),
                "--calibration", str(tmp_path / "calibration.json"), "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'gan'}: no network files; train the GAN first " \
        "(reid train-gan or dvc repro train_gan)"
    assert not (tmp_path / "out").exists()


@pytest.fixture
def assembly_inputs(market_root, tmp_path):
    """A prepared tiny Market tree, a generated folder (one shard) and the filter's verdicts: 2 persons kept (3 and 1)."""
    from conftest import write_jpeg
    from reid.data.shards import ImageWriter

    run_prepare({"source": "market1501", "market1501_root": str(market_root)}, tmp_path / "prepared", False)
    rows = ["file,pid,camid,verdict"]
    (tmp_path / "filtered").mkdir()
    with ImageWriter(tmp_path / "generated") as writer:
        for pid, count in ((50, 3), (51, 1), (52, 0)):
            for k in range(count + 1):
                file = f"images-000.tar/{pid:04d}/{pid:04d}_c1s1_{k:06d}_00.jpg"
                writer.add(file, write_jpeg(tmp_path / "one.jpg", pid + k).read_bytes())
                rows.append(f"{file},{pid},1,{'kept' if k < count else 'detector'}")
    (tmp_path / "filtered/scores.csv").write_text("\n".join(rows) + "\n")
    return ["--data", str(tmp_path / "prepared"), "--generated", str(tmp_path / "generated"),
            "--filtered", str(tmp_path / "filtered"), "--output", str(tmp_path / "out")]


@pytest.mark.parametrize("args, message", [
    (["--labeling", "soft"], "error: params: aug.labeling must be one of new-class, lsro, got 'soft'"),
    (["--persons", "-3"], "error: params: aug.persons must be >= 0, got -3"),
    (["--persons", "2"], "error: aug.persons=2, but only 1 generated persons have aug.min_images=2 or more kept images"),
    (["--images-per-person", "5"], "error: runs/invert/scores.csv: manifest not found; run the invert stage "
                                   "first (dvc repro invert)"),
])
def test_assemble_errors_are_one_line_and_write_nothing(assembly_inputs, tmp_path, args, message):
    done = reid("assemble", *assembly_inputs, *args, "--metrics-dir", str(tmp_path / "m"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == message
    assert not (tmp_path / "out").exists() and not (tmp_path / "m").exists()


def test_assemble_then_train_augmented_outside_dvc(assembly_inputs, tmp_path):
    done = reid("assemble", *assembly_inputs, "--persons", "1", "--metrics-dir", str(tmp_path / "m"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    counts = json.loads((tmp_path / "m/assemble.json").read_text())
    assert counts["persons_added"] == 1 and counts["person_images_added"] == 3 and counts["classes"] == 4
    done = reid("train-augmented", "--assembled", str(tmp_path / "out"), "--output", str(tmp_path / "aug/model.pt"),
                "--metrics-dir", str(tmp_path / "aug"), "--checkpoints", str(tmp_path / "aug/ckpt"),
                "--set", "arch=resnet18", "--set", "height=32", "--set", "width=16", "--set", "batch_size=4",
                "--epochs", "1", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "aug/train.json").read_text())
    assert summary["reused_baseline"] is False and summary["num_classes"] == 4 and summary["train_images"] == 12
    assert (tmp_path / "aug/train_curves.png").read_bytes().startswith(b"\x89PNG")
