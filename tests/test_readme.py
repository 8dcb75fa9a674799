"""The README's commands name what exists: params keys of `-S`/`--set`, CLI commands, stages."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def _has_key(dotted: str) -> bool:
    node = PARAMS
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_dvc_set_names_an_existing_params_key():
    """Defect: README lines set keys that DVC's parser refuses (a mapping value) or that do not exist."""
    pairs = re.findall(r"-S '?([A-Za-z0-9_.]+)=([^\s']*)", README)
    assert len(pairs) > 20
    for key, value in pairs:
        assert _has_key(key), f"README: dvc exp run -S {key}: no such key in params.yaml"
        assert not value.startswith("{"), f"README: -S {key}={value}: DVC's parser refuses mapping values"


def test_every_external_artifact_path_is_in_its_own_folder():
    for path in re.findall(r"data/external/[^\s`'),<]+/[^\s`'),]*", README):
        parts = path.split("/")
        assert len(parts) >= 3 and (REPO / "data/external" / parts[2]).is_dir(), f"README: {path}"


def test_every_stage_and_cli_command_in_the_readme_exists():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage in re.findall(r"dvc repro ([a-z_]+)", README):
        assert stage in stages, stage
    from typer.main import get_command

    from reid.cli import app

    commands = set(get_command(app).commands)
    for command in re.findall(r"^reid ([a-z-]+)", README, flags=re.M):
        assert command in commands, command
