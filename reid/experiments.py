"""DVC experiments of the `aug` grid as table rows: read from `dvc exp show --json` or a saved copy of it.

Every experiment carries two results: `metrics/aug_eval.json` (the model
trained with what `aug.*` added) and `metrics/eval.json` (the real-only
baseline trained with the same `reid` params, seed included). So a row of
added persons is paired with the baseline of the same reid.seed even when
nobody queued `aug.persons=0` for that seed.

The same result must count once: the workspace after `dvc exp run` repeats
the last experiment, an experiment may repeat the commit it started from,
and every experiment of one reid.seed repeats that seed's baseline. Results
are therefore kept per distinct params (the baseline: per distinct non-`aug`
params), first from experiments, then commits, then the workspace.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pandas as pd

from reid.errors import ReidError

AUG_EVAL = "metrics/aug_eval.json"
BASELINE_EVAL = "metrics/eval.json"
ASSEMBLE = "metrics/assemble.json"
AUG_TRAIN_LOG = "metrics/aug_train_log.tsv"
BASELINE_TRAIN_LOG = "metrics/train_log.tsv"
WORKSPACE = "workspace"

SEED = "reid.seed"
PERSONS = "aug.persons"
IMAGES_PER_PERSON = "aug.images_per_person"
AUG_PREFIX = "aug."
RUN_PREFIX = "run."  # how the stages run (device, batch sizes), not what they compute: never splits a row

METRICS = ("rank1", "rank5", "rank10", "mAP_trapezoid", "mAP", "mINP")


@dataclass(frozen=True)
class Experiment:
    """One finished entry of `dvc exp show`: flattened params and the metrics files the report reads."""

    rev: str  # a commit sha, or "workspace"
    name: str  # experiment or branch name, "" when it has none
    kind: str  # "experiment", "commit" or "workspace"
    params: dict
    aug_eval: dict | None
    baseline_eval: dict | None
    assemble: dict | None

    @property
    def label(self) -> str:
        return self.name or (self.rev if self.rev == WORKSPACE else self.rev[:7])

    @property
    def seed(self):
        return self.params.get(SEED)

    @property
    def adds_nothing(self) -> bool:
        """Persons 0 and variants 0: the augmented model is the baseline, reused."""
        return self.params.get(PERSONS, 0) == 0 and self.params.get(IMAGES_PER_PERSON, 0) == 0


def _frozen(value):
    """Lists become tuples, so params can key a dict."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"aug": {"persons": 20}} -> {"aug.persons": 20}, as `dvc exp run -S` names keys."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = _frozen(value)
    return flat


def load_exp_show(exp_json: Path | None, repo: Path, revs: list[str] = ()) -> list:
    """The entries of a saved `dvc exp show --json`, or of running it in `repo` (the experiments of `revs`, default HEAD)."""
    if exp_json is not None:
        if not exp_json.is_file():
            raise ReidError(f"{exp_json}: exp show JSON not found; save one with `dvc exp show --json > {exp_json}`")
        text, source = exp_json.read_text(encoding="utf-8"), str(exp_json)
    else:
        extra = [arg for rev in revs for arg in ("--rev", rev)]
        done = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json", *extra], cwd=repo,
                              capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise ReidError(f"{repo}: `dvc exp show --json` failed: {last}")
        text, source = done.stdout, "`dvc exp show --json`"
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReidError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(entries, list):
        raise ReidError(f"{source}: expected the list `dvc exp show --json` prints, got {type(entries).__name__}")
    return entries


def _metrics_file(data: dict, path: str, label: str, notes: list[str], required=()) -> dict | None:
    """A metrics file's content; None (with a note when it exists) when unreadable or lacking a number."""
    entry = (data.get("metrics") or {}).get(path)
    if entry is None:
        return None
    if entry.get("error") or not isinstance(entry.get("data"), dict):
        notes.append(f"{label}: {path} unreadable, ignored")
        return None
    missing = [k for k in required if not isinstance(entry["data"].get(k), (int, float))]
    if missing:
        notes.append(f"{label}: {path} lacks {', '.join(missing)}, ignored")
        return None
    return entry["data"]


def _experiment(node: dict, kind: str, state: str | None, notes: list[str]) -> Experiment | None:
    rev, name = node.get("rev", "?"), node.get("name") or ""
    label = name or rev[:7]
    if node.get("error"):
        notes.append(f"{label}: skipped, {kind} failed ({node['error'].get('msg') or 'no message'})")
        return None
    if state not in (None, "success"):
        notes.append(f"{label}: skipped, not finished ({state})")
        return None
    data = node.get("data") or {}
    params = {}
    for file, entry in (data.get("params") or {}).items():
        if entry.get("error") or "data" not in entry:
            notes.append(f"{label}: skipped, {file} unreadable")
            return None
        params.update(flatten(entry["data"], "" if file == "params.yaml" else f"{file}:"))
    return Experiment(rev, name, kind, params, _metrics_file(data, AUG_EVAL, label, notes, METRICS),
                      _metrics_file(data, BASELINE_EVAL, label, notes, METRICS),
                      _metrics_file(data, ASSEMBLE, label, notes))


def parse_exp_show(entries: list) -> tuple[list[Experiment], list[str]]:
    """Finished experiments (experiments first, then commits, then the workspace) and notes on what was skipped.

    A failed, queued or running experiment is skipped: its metrics in the
    JSON are whatever the workspace held when it was queued, not its own.
    """
    by_kind = {"experiment": [], "commit": [], "workspace": []}
    notes: list[str] = []
    for node in entries:
        kind = "workspace" if node.get("rev") == WORKSPACE else "commit"
        found = _experiment(node, kind, None, notes)
        if found:
            by_kind[kind].append(found)
        for group in node.get("experiments") or []:
            state = (group.get("executor") or {}).get("state")
            for rev in group.get("revs") or []:
                found = _experiment(rev, "experiment", state, notes)
                if found:
                    by_kind["experiment"].append(found)
    return [*by_kind["experiment"], *by_kind["commit"], *by_kind["workspace"]], notes


def row_params(params: dict, drop_aug: bool = False) -> tuple:
    """The params that make a table row: all but reid.seed and run.* (and aug.* for the baseline)."""
    return tuple(sorted((k, v) for k, v in params.items()
                        if k != SEED and not k.startswith(RUN_PREFIX) and not (drop_aug and k.startswith(AUG_PREFIX))))


def _same_numbers(a: dict, b: dict) -> bool:
    return all(math.isclose(a[k], b[k], abs_tol=1e-9) for k in METRICS)


@dataclass
class Row:
    """One table row: what was added, and per reid.seed the metrics and the experiment they come from."""

    params: tuple  # row_params of its experiments
    persons: int
    images_per_person: int
    is_baseline: bool
    metrics: dict = field(default_factory=dict)  # seed -> eval metrics
    assemble: dict = field(default_factory=dict)  # seed -> assemble.json (augmented rows)
    sources: dict = field(default_factory=dict)  # seed -> Experiment
    label: str = ""  # the params that set it apart from other rows of its table, "" when none do

    @property
    def baseline_params(self) -> tuple:
        return tuple((k, v) for k, v in self.params if not k.startswith(AUG_PREFIX))

    @property
    def seeds(self) -> list:
        return sorted(self.metrics)

    def values(self, metric: str, seeds=None) -> list[float]:
        return [float(self.metrics[s][metric]) for s in (self.seeds if seeds is None else seeds)]


def _record(row: Row, experiment: Experiment, metrics: dict, notes: list[str]) -> None:
    """Add one seed's result to a row; a repeat of a seed already there is not counted again."""
    seed = experiment.seed
    if seed in row.metrics:
        if not _same_numbers(row.metrics[seed], metrics):
            kind = "baseline" if row.is_baseline else "augmented"
            notes.append(f"{experiment.label}: same params as {row.sources[seed].label} but other {kind} "
                         f"numbers; counted once, from {row.sources[seed].label}")
        return
    row.metrics[seed] = metrics
    row.sources[seed] = experiment
    if not row.is_baseline and experiment.assemble is not None:
        row.assemble[seed] = experiment.assemble


def group_rows(experiments: list[Experiment]) -> tuple[list[Row], list[str]]:
    """Baseline rows (from eval.json) and augmented rows (from aug_eval.json), each result counted once.

    Experiments that add nothing contribute only their baseline; one without
    reid.seed, or with neither metrics file, is skipped with a note.
    """
    baselines: dict = {}
    augmented: dict = {}
    notes: list[str] = []
    for experiment in experiments:
        if experiment.seed is None:
            notes.append(f"{experiment.label}: skipped, no {SEED} param")
            continue
        baseline = experiment.baseline_eval or (experiment.aug_eval if experiment.adds_nothing else None)
        added = None if experiment.adds_nothing else experiment.aug_eval
        if baseline is None and added is None:
            notes.append(f"{experiment.label}: skipped, neither {AUG_EVAL} nor {BASELINE_EVAL}")
            continue
        if baseline is not None:
            key = row_params(experiment.params, drop_aug=True)
            _record(baselines.setdefault(key, Row(key, 0, 0, True)), experiment, baseline, notes)
        if added is not None:
            key = row_params(experiment.params)
            row = Row(key, int(experiment.params.get(PERSONS, 0)), int(experiment.params.get(IMAGES_PER_PERSON, 0)),
                      False)
            _record(augmented.setdefault(key, row), experiment, added, notes)
    rows = [*baselines.values(), *augmented.values()]
    _label(rows)
    return rows, notes


def _label(rows: list[Row]) -> None:
    """Name each row by the params, besides the table axes, whose values differ between the rows that have them."""
    axes = {PERSONS, IMAGES_PER_PERSON}
    shown = [dict(row.baseline_params if row.is_baseline else row.params) for row in rows]
    keys = sorted({k for params in shown for k in params} - axes)
    varying = [k for k in keys if len({repr(params[k]) for params in shown if k in params}) > 1]
    for row, params in zip(rows, shown):
        row.label = ", ".join(f"{k}={params[k]}" for k in varying if k in params)


def baseline_of(row: Row, rows: list[Row]) -> Row | None:
    """The real-only row trained with the same non-`aug` params."""
    return next((r for r in rows if r.is_baseline and r.params == row.baseline_params), None)


def read_training_log(experiment: Experiment, path: str, repo: Path) -> tuple[pd.DataFrame | None, str]:
    """An experiment's per-epoch log (`git show <rev>:<path>`; the workspace: the file), or None and why not."""
    if experiment.rev == WORKSPACE:
        file = repo / path
        if not file.is_file():
            return None, f"{file} not found"
        text = file.read_text(encoding="utf-8")
    else:
        known = subprocess.run(["git", "cat-file", "-e", f"{experiment.rev}^{{commit}}"], cwd=repo, capture_output=True)
        if known.returncode != 0:
            return None, f"commit {experiment.rev[:7]} is not in the git repository at {repo.resolve()}"
        done = subprocess.run(["git", "show", f"{experiment.rev}:{path}"], cwd=repo, capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            return None, f"`git show {experiment.rev[:7]}:{path}` failed: {why}"
        text = done.stdout
    try:
        return pd.read_csv(StringIO(text), sep="\t"), ""
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return None, f"{path} of {experiment.label} is not a TSV"


def warn_all(notes: list[str]) -> None:
    """Each note as one `warning:` line (run_reported formats warnings on one line)."""
    for note in notes:
        warnings.warn(note, stacklevel=2)
