"""reid.io on small real folders: foreign folders are never replaced, debris is cleaned, writes are durable."""

from __future__ import annotations

import json
import os
import stat

import pytest

from reid import io as rio
from reid.errors import ReidError
from reid.io import (OUTPUT_MARKER, atomic_dir, atomic_path, atomic_write_bytes, atomic_write_json,
                     atomic_write_text, claim_run_dir, remove_debris)


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def write_output(path, files):
    with atomic_dir(path) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text)


# --- atomic_dir: whose folder may be replaced ---------------------------------------------------

def test_foreign_folder_is_refused_and_kept(tmp_path):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "thesis.tex").write_bytes(b"years of work\x00\xff")
    entered = []
    with pytest.raises(ReidError, match=f"not written by this project.*{OUTPUT_MARKER}"):
        with atomic_dir(foreign):
            entered.append(True)
    assert entered == []  # refused before any work
    assert names(foreign) == ["thesis.tex"]
    assert (foreign / "thesis.tex").read_bytes() == b"years of work\x00\xff"
    assert names(tmp_path) == ["thesis"]  # no temporary left beside it


def test_marked_folder_is_replaced(tmp_path):
    out = tmp_path / "prepared"
    write_output(out, {"a.txt": "first"})
    assert names(out) == sorted([OUTPUT_MARKER, "a.txt"])
    assert (out / OUTPUT_MARKER).read_text().endswith("\n")
    write_output(out, {"b.txt": "second"})
    assert names(out) == sorted([OUTPUT_MARKER, "b.txt"])
    assert (out / "b.txt").read_text() == "second"
    assert names(tmp_path) == ["prepared"]


def test_empty_folder_is_accepted(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    write_output(out, {"x": "1"})
    assert names(out) == sorted([OUTPUT_MARKER, "x"])


def test_file_at_path_is_refused(tmp_path):
    target = tmp_path / "prepared"
    target.write_text("not a folder")
    with pytest.raises(ReidError, match="not written by this project"):
        with atomic_dir(target):
            pass
    assert target.read_text() == "not a folder"
    assert names(tmp_path) == ["prepared"]


def test_folder_filled_by_someone_else_meanwhile_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ReidError):
        with atomic_dir(out) as tmp:
            (tmp / "ours").write_text("x")
            (out / "theirs.txt").write_text("keep")
    assert names(out) == ["theirs.txt"] and names(tmp_path) == ["out"]


def test_exception_in_atomic_dir_keeps_old_output_and_leaves_no_temp(tmp_path):
    out = tmp_path / "prepared"
    write_output(out, {"a.txt": "old"})
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert (out / "a.txt").read_text() == "old"
    assert names(tmp_path) == ["prepared"]


def test_exception_in_atomic_path_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".model.pt.") and tmp.suffix == ".pt"
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["model.pt"]
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and names(tmp_path) == ["model.pt"]


# --- crash debris -------------------------------------------------------------------------------

USER_FILES = [".snapshot.pt.notes.txt", "my.tmp", ".snapshot.pt.abcdefgh.txt", ".snapshot.pt.ABCDEFGH.tmp",
              "snapshot.pt.abcdefgh.tmp", ".snapshot.pt.abcdefg.tmp", ".other.abcdefgh.tmpx"]


def test_debris_of_a_killed_write_is_removed_on_the_next_write(tmp_path):
    debris = [".snapshot.pt.k2j4h1a9.tmp.pt", ".snapshot.pt.a_b_c_d_.tmp"]
    for name in debris + USER_FILES:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".snapshot.pt.zzzzzzzz.old").mkdir()  # a directory temp is debris too
    (tmp_path / ".snapshot.pt.zzzzzzzz.old" / "d").write_bytes(b"x")
    (tmp_path / ".last.pt.abcdefgh.tmp.pt").write_bytes(b"another target's temp")
    with atomic_path(tmp_path / "snapshot.pt") as tmp:
        tmp.write_bytes(b"state")
    assert names(tmp_path) == sorted(USER_FILES + ["snapshot.pt", ".last.pt.abcdefgh.tmp.pt"])


def test_atomic_dir_removes_its_own_debris(tmp_path):
    (tmp_path / ".prepared.x1y2z3w4.tmp").mkdir()
    (tmp_path / ".prepared.x1y2z3w4.tmp" / "half.jpg").write_bytes(b"x")
    (tmp_path / ".prepared.q1q2q3q4.old").mkdir()
    (tmp_path / ".prepared.notes").write_text("mine")
    write_output(tmp_path / "prepared", {"a": "1"})
    assert names(tmp_path) == [".prepared.notes", "prepared"]


def test_remove_debris_matches_only_the_temp_pattern(tmp_path):
    for name in USER_FILES + [".a.b.c.12345678.tmp", ".x.abcdefgh.old"]:
        (tmp_path / name).write_text("x")
    removed = remove_debris(tmp_path)
    assert sorted(p.name for p in removed) == [".a.b.c.12345678.tmp", ".x.abcdefgh.old"]
    assert names(tmp_path) == sorted(USER_FILES)
    assert remove_debris(tmp_path / "missing") == []


def test_remove_debris_for_one_name_leaves_the_others(tmp_path):
    for name in [".a.pt.abcdefgh.tmp.pt", ".b.pt.abcdefgh.tmp.pt", ".a.pt.abcdefgh.old"]:
        (tmp_path / name).write_text("x")
    remove_debris(tmp_path, "a.pt")
    assert names(tmp_path) == [".b.pt.abcdefgh.tmp.pt"]


# --- claim_run_dir ------------------------------------------------------------------------------

def test_claim_run_dir_refuses_a_foreign_folder(tmp_path):
    run = tmp_path / "gan"
    run.mkdir()
    (run / "photo.jpg").write_bytes(b"mine")
    (run / ".snapshot.pt.k2j4h1a9.tmp.pt").write_bytes(b"looks like debris, but not our folder")
    with pytest.raises(ReidError, match="not written by this project"):
        claim_run_dir(run)
    assert names(run) == [".snapshot.pt.k2j4h1a9.tmp.pt", "photo.jpg"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReidError):
        claim_run_dir(tmp_path / "file")


def test_claim_run_dir_marks_a_new_folder_and_removes_debris(tmp_path):
    run = claim_run_dir(tmp_path / "deep" / "gan")
    assert run == tmp_path / "deep" / "gan" and names(run) == [OUTPUT_MARKER]
    (run / "snapshot.pt").write_bytes(b"state")
    (run / ".snapshot.pt.k2j4h1a9.tmp.pt").write_bytes(b"half")
    (run / ".last.pt.abcdefgh.tmp.pt").write_bytes(b"half")
    (run / ".snapshot.pt.notes.txt").write_text("keep")
    assert claim_run_dir(str(run)) == run
    assert names(run) == sorted([OUTPUT_MARKER, "snapshot.pt", ".snapshot.pt.notes.txt"])
    assert (run / "snapshot.pt").read_bytes() == b"state"


def test_claim_run_dir_accepts_an_empty_folder(tmp_path):
    (tmp_path / "run").mkdir()
    assert names(claim_run_dir(tmp_path / "run")) == [OUTPUT_MARKER]


def test_claim_run_dir_takes_a_folder_killed_while_being_marked(tmp_path):
    # A run killed inside claim_run_dir's marker write (seen: killed during its fsync) leaves just the temporary.
    run = tmp_path / "run"
    run.mkdir()
    (run / f".{OUTPUT_MARKER}.eqc46ma2.tmp").write_text("written by the")
    assert names(claim_run_dir(run)) == [OUTPUT_MARKER]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / f".{OUTPUT_MARKER}.eqc46ma2.tmp").write_text("x")
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ReidError, match="not written by this project"):
        claim_run_dir(tmp_path / "other")


# --- durability and JSON ------------------------------------------------------------------------

@pytest.fixture
def fsyncs(monkeypatch):
    """Record what os.fsync is called on: 'dir' or 'file'."""
    calls = []
    real = os.fsync

    def record(fd):
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def test_file_writes_fsync_the_file_and_the_folder(tmp_path, fsyncs):
    atomic_write_bytes(tmp_path / "a.bin", b"data")
    assert fsyncs == ["file", "dir"]
    fsyncs.clear()
    with atomic_path(tmp_path / "b.pt") as tmp:
        tmp.write_bytes(b"data")
    assert fsyncs == ["file", "dir"]


def test_atomic_dir_syncs_the_tree_and_the_parent(tmp_path, fsyncs, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "sync", lambda: synced.append(True))
    write_output(tmp_path / "out", {"a": "1", "b": "2"})
    assert synced == [True] and fsyncs == ["dir"]


def test_atomic_dir_fsyncs_each_file_where_there_is_no_os_sync(tmp_path, fsyncs, monkeypatch):
    monkeypatch.delattr(os, "sync")
    write_output(tmp_path / "out", {"a": "1", "b": "2"})
    assert sorted(fsyncs) == ["dir", "file", "file", "file"]  # a, b, the marker; then the parent


def test_atomic_write_json_refuses_non_finite_numbers(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(ReidError, match=r"metrics\.json.*non-finite.*scores\.mAP"):
        atomic_write_json(target, {"scores": {"mAP": float("inf")}})
    with pytest.raises(ReidError, match=r"at curve\.1"):
        atomic_write_json(target, {"curve": [1.0, float("nan")]})
    assert list(tmp_path.iterdir()) == []
    atomic_write_json(target, {"mAP": 0.5, "ranks": [1, 2]})
    assert json.loads(target.read_text()) == {"mAP": 0.5, "ranks": [1, 2]}
    assert target.read_text().endswith("\n")


def test_text_writes_replace_and_leave_nothing_behind(tmp_path):
    atomic_write_text(tmp_path / "sub" / "a.txt", "one")
    atomic_write_text(tmp_path / "sub" / "a.txt", "two ü")
    assert (tmp_path / "sub" / "a.txt").read_text(encoding="utf-8") == "two ü"
    assert names(tmp_path / "sub") == ["a.txt"]
    assert rio.MARKER_TEXT.count("\n") == 1
