"""`reid report` on real `dvc exp show --json` output: tests/data/exp_show.json (make_exp_show.py: its numbers)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from reid.cli import app
from reid.errors import ReidError
from reid.experiments import group_rows, parse_exp_show
from reid.provenance import SOURCE_ROOT, source_closure
from reid.viz.report import parse_curve_selection, write_report

EXP_SHOW = Path(__file__).parent / "data" / "exp_show.json"
LOG = "epoch\tlr\ttrain_loss\tval_loss\ttrain_top1_err\tval_top1_err\tseconds\n" + "".join(
    f"{e}\t0.05\t{4 / e}\t{4.5 / e}\t{0.9 / e}\t{1 / e}\t1.0\n" for e in range(1, 5))


def entries() -> list:
    return json.loads(EXP_SHOW.read_text())


FAILED = next(g["name"] for g in entries()[1]["experiments"] if g["revs"][0]["error"])  # aug.persons=999


def reid(*args):
    """Run the CLI in this process (a subprocess would spend seconds importing torch)."""
    return CliRunner().invoke(app, list(args))


def test_rows_count_each_result_once_and_skip_the_failed_experiment():
    experiments, notes = parse_exp_show(entries())
    assert notes == [f"{FAILED}: skipped, experiment failed (Experiment run failed)"]
    assert {e.kind for e in experiments} == {"experiment", "commit", "workspace"}
    rows, repeated = group_rows(experiments)
    assert repeated == []  # the repeats (commit, workspace, persons=0 experiments) have identical numbers
    by_name = {(r.is_baseline, r.persons, r.images_per_person, r.label): r for r in rows}
    # The baseline of seed 0 is in the commit, a persons=0 experiment and every seed-0 experiment: counted once.
    baseline = by_name[(True, 0, 0, "")]
    assert baseline.seeds == [0, 1, 2] and baseline.values("rank1") == pytest.approx([0.80, 0.82, 0.84])
    # The workspace repeats the last experiment (lsro, seed 0).
    assert by_name[(False, 20, 0, "aug.labeling=lsro")].seeds == [0]
    assert by_name[(False, 20, 0, "aug.labeling=new-class")].values("rank1") == pytest.approx([0.81, 0.832, 0.854])
    assert by_name[(False, 0, 5, "aug.labeling=new-class")].seeds == [0, 1]
    assert len(rows) == 5


def experiment_node(shown: list, persons: int, images: int, labeling: str, seed: int) -> tuple[dict, dict]:
    """The experiment group and its revision entry with these params."""
    for group in shown[1]["experiments"]:
        params = group["revs"][0]["data"]["params"]["params.yaml"]["data"]
        if (params["aug"]["persons"], params["aug"]["images_per_person"], params["aug"]["labeling"],
                params["reid"]["seed"]) == (persons, images, labeling, seed):
            return group, group["revs"][0]
    raise LookupError("no such experiment in the fixture")


def test_unfinished_broken_and_conflicting_results_are_noted():
    shown = entries()
    running, _ = experiment_node(shown, 20, 0, "lsro", 0)
    running["executor"] = {"state": "running"}
    broken, broken_rev = experiment_node(shown, 0, 5, "new-class", 1)
    broken_rev["data"]["metrics"]["metrics/aug_eval.json"] = {"error": {"msg": "bad"}}
    commit = shown[1]  # counted after the experiments: its seed-0 baseline repeats theirs
    commit["data"]["metrics"]["metrics/eval.json"]["data"]["rank1"] = 0.9
    experiments, notes = parse_exp_show(shown)
    assert notes == [f"{running['name']}: skipped, not finished (running)",
                     f"{broken['name']}: metrics/aug_eval.json unreadable, ignored",
                     f"{FAILED}: skipped, experiment failed (Experiment run failed)"]
    rows, repeated = group_rows(experiments)
    assert len(repeated) == 1 and re.fullmatch(
        rf"{commit['name']}: same params as (\S+) but other baseline numbers; counted once, from \1", repeated[0])
    variants = next(r for r in rows if r.images_per_person == 5)
    assert variants.seeds == [0]  # seed 1 had only a broken aug_eval.json; its baseline still counts
    assert next(r for r in rows if r.is_baseline).values("rank1") == pytest.approx([0.80, 0.82, 0.84])


def test_report_tables_sentences_and_figures(tmp_path):
    experiments, notes = parse_exp_show(entries())
    rows, repeated = group_rows(experiments)
    report = write_report(rows, notes + repeated, tmp_path / "reports", tmp_path, "a test")
    text = report.path.read_text()
    # Means ± 95% half-widths worked out by hand: sd 0.02 -> 4.3027 * 0.02 / sqrt(3) = 0.0497; sd 0.022 -> 0.0547.
    assert "| baseline | 0 | 0 | 0.8200 ± 0.0497 | 0.9200 ± 0.0497 | 0.9700 ± 0.0497 | 0.6500 ± 0.0497 |" in text
    assert "| +20 persons (aug.labeling=new-class) | 20 | 800 | 0.8320 ± 0.0547 |" in text
    assert "| +20 persons (aug.labeling=lsro) | 20 | 800 | 0.8050 | 0.9050 |" in text
    assert "| 3 | 0.8922 | 0.7451 |" in text  # the thesis's 20-person row beside
    assert "| +5 images per person (aug.labeling=new-class) | 150 | 5 | 0.7700 ± 0.2541 |" in text
    assert ("+20 persons (aug.labeling=new-class), 3 seeds paired: Rank@1 +0.0120 (95% CI +0.0070 to +0.0170, "
            "p = 0.00913)") in text
    assert "both exceed the seed-to-seed spread" in report.sentences[1]
    assert report.sentences[2].startswith("+60 persons")
    assert "neither exceeds the seed-to-seed spread" in report.sentences[2]
    assert "from one seed (0) only" in report.sentences[0]
    assert f"{FAILED}: skipped" in text
    # The saved JSON's commits are not in this test's folder: the curves are skipped, and say why.
    assert "No training curves like thesis Figs 5.17-5.20" in text
    assert any("is not in the git repository" in note for note in report.notes)
    assert [p.name for p in report.figures] == ["fig_5_21_persons.png", "fig_5_26_images_per_person.png"]
    for figure in report.figures:
        assert f"]({figure.name})" in text
        with Image.open(figure) as image:
            image.verify()
            assert image.format == "PNG" and image.width > 400 and image.height > 300


def test_curves_come_from_the_experiments_commits(tmp_path):
    """The experiments' training logs are read with `git show <rev>:metrics/...tsv`."""
    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    for name in ("train_log.tsv", "aug_train_log.tsv"):
        (repo / "metrics" / name).write_text(LOG)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "logs"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    shown = copy.deepcopy(entries())
    for node in shown[1:]:
        node["rev"] = sha
        for group in node["experiments"]:
            for rev in group["revs"]:
                rev["rev"] = sha
    experiments, notes = parse_exp_show(shown)
    rows, _ = group_rows(experiments)
    report = write_report(rows, notes, tmp_path / "reports", repo, "a test", parse_curve_selection("0,60,0:5"))
    assert [p.name for p in report.figures] == ["fig_5_21_persons.png", "curves_persons.png",
                                                "fig_5_26_images_per_person.png", "curves_images_per_person.png"]
    with Image.open(report.figures[1]) as image:  # baseline and +60 persons, a row of two panels each
        assert image.height > image.width / 2
    assert "![training curves, thesis Figs 5.17-5.20](curves_persons.png)" in report.path.read_text()


def test_a_second_report_removes_figures_that_no_longer_apply(tmp_path):
    experiments, _ = parse_exp_show(entries())
    rows, _ = group_rows(experiments)
    write_report(rows, [], tmp_path, tmp_path, "a test")
    assert (tmp_path / "fig_5_26_images_per_person.png").is_file()
    (tmp_path / "mine.png").write_bytes(b"not the report's")
    persons_only = [r for r in rows if r.images_per_person == 0]
    report = write_report(persons_only, [], tmp_path, tmp_path, "a test")
    assert not (tmp_path / "fig_5_26_images_per_person.png").exists() and (tmp_path / "mine.png").is_file()
    assert "Fig 5.26 analogue is skipped: no experiment has `aug.images_per_person` above 0" in report.path.read_text()


def test_report_code_does_not_import_training_code():
    """reid.metrics and reid.viz stay below training: a report never loads (or depends on) the training loop."""
    for module in ("reid.experiments", "reid.metrics.spread", "reid.viz.report", "reid.viz.ranklist"):
        closure = {str(p.relative_to(SOURCE_ROOT)) for p in source_closure(module)}
        assert "reid/engine/train.py" not in closure, module
        assert not [p for p in closure if p.startswith("reid/pipeline/")], module


def test_bad_curve_selection_is_refused():
    assert parse_curve_selection("0, 100,0:35") == [(0, 0), (100, 0), (0, 35)]
    with pytest.raises(ReidError, match="expected PERSONS or PERSONS:IMAGES_PER_PERSON, got 'x'"):
        parse_curve_selection("0,x")


@pytest.mark.filterwarnings("ignore:no training curves")
def test_cli_report_and_its_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match=f"{FAILED}: skipped, experiment failed"):
        done = reid("report", "--exp-json", str(EXP_SHOW), "--output", "out")
    assert done.exit_code == 0, done.stderr
    assert "wrote out/README.md and 2 figures" in done.stdout and "both exceed the seed-to-seed spread" in done.stdout

    done = reid("report", "--exp-json", "missing.json")
    assert done.exit_code == 2
    assert done.stderr.strip() == ("error: missing.json: exp show JSON not found; "
                                   "save one with `dvc exp show --json > missing.json`")

    baseline_only = [dict(entries()[1], experiments=None)]  # the commit: eval.json, no augmented run
    (tmp_path / "baseline.json").write_text(json.dumps(baseline_only))
    done = reid("report", "--exp-json", "baseline.json", "--output", "none")
    assert done.exit_code == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: baseline.json: no finished experiment has metrics/aug_eval.json")
    assert not (tmp_path / "none" / "README.md").exists()

    done = reid("report", "--output", "none")  # not a DVC repository
    assert done.exit_code == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: .: `dvc exp show --json` failed:")
