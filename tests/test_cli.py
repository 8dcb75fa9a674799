"""The `reid` command line: help texts and one-line errors with nothing written."""

from __future__ import annotations

import subprocess
import sys

import pytest


def reid(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "reid.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_every_option_is_explained():
    from typer.main import get_command

    from reid.cli import app

    commands = get_command(app).commands
    assert {"prepare", "train", "evaluate"} <= set(commands)
    for name, command in commands.items():
        assert command.help, name
        for param in command.params:
            assert param.help and len(param.help) > 10, f"reid {name} {param.opts}: no help"
    assert reid("train", "--help").returncode == 0


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


def test_bad_set_and_unknown_key(market_root, tmp_path):
    done = reid("prepare", "--set", "oops", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "error: --set expects key=value, got 'oops'"
    done = reid("prepare", "--set", "sourse=synthetic", cwd=tmp_path)
    assert done.returncode == 2 and "unknown key data.sourse" in done.stderr
