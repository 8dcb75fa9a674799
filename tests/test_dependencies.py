"""dvc.yaml tells the truth: each stage depends on exactly the code it runs, precise artifacts, the params it reads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reid.provenance import SOURCE_ROOT, code_digest, is_trivial, source_closure

REPO = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
CODE_ROOTS = ("reid/", "stages/")


def _entry(stage: str) -> str:
    """The stage's script; `python -m stages.x` runs the repository's own code, even beside an installed copy."""
    command = DVC[stage]["cmd"]
    assert command.startswith("python -m stages."), f"{stage}: run stages as modules, not as script paths"
    return command.removeprefix("python -m ").replace(".", "/") + ".py"


def _deps(stage: str) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in DVC[stage]["deps"]]


@pytest.mark.parametrize("stage", sorted(DVC))
def test_code_dependencies_are_exactly_what_the_stage_imports(stage):
    wanted = sorted(str(p.relative_to(SOURCE_ROOT)) for p in source_closure(str(REPO / _entry(stage))))
    declared = sorted(d for d in _deps(stage) if d.startswith(CODE_ROOTS))
    assert declared == wanted, (f"dvc.yaml stage {stage}: missing {sorted(set(wanted) - set(declared))}, "
                                f"not imported {sorted(set(declared) - set(wanted))}")


def test_package_markers_hold_no_code():
    """__init__.py files are left out of the closures, so they must not be able to change a result."""
    for marker in (REPO / "reid").rglob("__init__.py"):
        assert is_trivial(marker), f"{marker} holds code: move it to a module, or list it as a dependency"


def test_closure_follows_lazy_and_from_imports(tmp_path):
    closure = {str(p.relative_to(SOURCE_ROOT)) for p in source_closure("reid.cli")}
    assert "reid/pipeline/filter.py" in closure  # imported inside a function
    assert "reid/filters/screen.py" in closure  # `from reid.filters.screen import ...`
    train = {str(p.relative_to(SOURCE_ROOT)) for p in source_closure("reid.pipeline.train_reid")}
    assert "reid/models/baseline.py" in train and "reid/data/synthetic.py" not in train


def test_code_digest_changes_with_a_source_file(monkeypatch, tmp_path):
    before = code_digest("reid.pipeline.train_reid")
    baseline = SOURCE_ROOT / "reid/models/baseline.py"
    original = baseline.read_bytes()
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: real_read(self) + b"\n# edited\n" if self == baseline else real_read(self))
    assert code_digest("reid.pipeline.train_reid") != before
    assert code_digest("reid.pipeline.prepare") == code_digest("reid.pipeline.prepare")
    assert baseline.read_bytes() != original


def test_external_artifacts_are_precise_dependencies():
    for stage in DVC:
        for dep in _deps(stage):
            if dep.startswith("data/external"):
                assert dep != "data/external" and (REPO / dep).is_dir(), f"{stage}: {dep} is not one artifact's folder"
    uses = {stage: {d for d in _deps(stage) if d.startswith("data/external/")} for stage in DVC}
    assert uses["prepare"] == {"data/external/market1501"}
    assert uses["train_reid"] == {"data/external/imagenet"}
    assert uses["filter"] == uses["calibrate_filters"] == {"data/external/yolo"}
    assert not uses["evaluate"] and not uses["generate"]


def test_stages_declare_the_params_they_read_and_not_the_run_section():
    for stage in DVC:
        declared = DVC[stage].get("params") or []
        assert not any(p == "run" or str(p).startswith("run.") for p in declared), stage
        script = ast.parse((REPO / _entry(stage)).read_text())
        read = {node.args[0].value for node in ast.walk(script) if isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "load_section"}
        for name in read - {"run"}:
            assert any(p == name or str(p).startswith(f"{name}.") for p in declared), f"{stage} reads {name}"
            keys = [p for p in declared if str(p).startswith(f"{name}.")]
            for key in keys:  # sub-keys must exist, or DVC fails on a typo only at run time
                node = PARAMS
                for part in key.split("."):
                    assert part in node, f"{stage}: {key} not in params.yaml"
                    node = node[part]
    assert "filter" not in (DVC["filter"]["params"] + DVC["calibrate_filters"]["params"])


def test_run_settings_are_nowhere_else():
    runtime = set(PARAMS["run"])
    for name, section in PARAMS.items():
        if name != "run" and isinstance(section, dict):
            assert not {"device", "checkpoint_every"} & set(section), name
    assert {"device", "checkpoint_every", "batch", "filter_batch"} == runtime


def test_steps_without_a_network_do_not_load_torch():
    code = "import sys, reid.pipeline.prepare, reid.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("stage", sorted(DVC))
def test_uncached_outputs_are_metrics_or_plots(stage):
    """DVC keeps no run-cache entry for a stage with an uncached plain output, so seed grids would retrain it."""
    plain = [next(iter(o)) for o in DVC[stage].get("outs", []) if isinstance(o, dict)
             and next(iter(o.values())).get("cache") is False]
    assert not plain, f"dvc.yaml stage {stage}: declare {plain} under plots: or metrics:, not outs:"
