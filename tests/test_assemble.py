"""Issue 11: the augmented training set (counts, labels, order, refusals) and the LSRO loss."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import write_jpeg
from reid.data.generated import SCORES
from reid.data.shards import ImageWriter, image_exists, shard_addresses
from reid.data.assemble import (CLASS, UNIFORM, AugConfig, assemble_training_set, pick_persons, read_assembled,
                                read_generated_set, summarize, write_assembled)
from reid.data.index import read_index
from reid.data.prepare import PrepareConfig, prepare_dataset
from reid.engine.train import TrainConfig, label_loss, train_reid
from reid.errors import ReidError
from reid.pipeline.assemble import run_assemble

KEPT_PER_PERSON = {100: 5, 101: 1, 102: 3, 103: 4, 104: 2, 105: 6}  # generated pid -> kept images


@pytest.fixture
def real(market_root, tmp_path) -> pd.DataFrame:
    prepare_dataset(PrepareConfig(source="market1501", market1501_root=str(market_root)), tmp_path / "prepared", False)
    return read_index(tmp_path / "prepared")


DISCARDED = {100: 2, 102: 1}  # generated pid -> images the filter discarded (listed, never picked)


def write_generated(folder: Path, skip: str = "") -> list[dict]:
    """A generated folder whose images sit in two tar shards; the filter's rows for them (`skip` is left out)."""
    rows = []
    for pid in KEPT_PER_PERSON:
        for k in range(KEPT_PER_PERSON[pid] + DISCARDED.get(pid, 0)):
            rows.append({"file": f"{pid:04d}/{pid:04d}_c{1 + k % 6}s1_{k:06d}_00.jpg", "pid": pid,
                         "camid": 1 + k % 6, "verdict": "kept" if k < KEPT_PER_PERSON[pid] else "ssim"})
    addresses = shard_addresses([r["file"] for r in rows], per_shard=12)
    with ImageWriter(folder) as writer:
        for seed, (row, address) in enumerate(zip(rows, addresses)):
            row["file"] = address
            if address != skip:
                writer.add(address, write_jpeg(folder / "plain.jpg", seed).read_bytes())
    (folder / "plain.jpg").unlink()
    return rows


@pytest.fixture
def kept_set(tmp_path) -> tuple[Path, Path]:
    """(generated folder, filtered folder): shards of images and the filter's scores.csv naming them."""
    rows = write_generated(tmp_path / "generated")
    (tmp_path / "filtered").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "filtered" / SCORES, index=False)
    return tmp_path / "generated", tmp_path / "filtered"


def test_persons_are_prefixes_of_one_seeded_order_and_few_images_never_count(kept_set):
    kept = read_generated_set(*kept_set)
    eligible = {pid for pid, count in KEPT_PER_PERSON.items() if count >= 2}
    five = pick_persons(kept, 5, 2, seed=0)
    assert set(five) == eligible  # 101 has one kept image
    assert pick_persons(kept, 3, 2, seed=0) == five[:3]
    assert pick_persons(kept, 5, 2, seed=0) == five
    assert {tuple(pick_persons(kept, 5, 2, seed=s)) for s in range(6)} != {tuple(five)}  # the seed picks the order
    assert set(pick_persons(kept, 2, 5, seed=0)) == {100, 105}
    with pytest.raises(ReidError, match=r"aug.persons=6, but only 5 generated persons have aug.min_images=2"):
        pick_persons(kept, 6, 2, seed=0)


def test_new_class_and_lsro_labels_and_counts(real, kept_set):
    kept = read_generated_set(*kept_set)
    real_train = real[real.split == "train"]
    as_classes = assemble_training_set(real, kept, AugConfig(persons=2, seed=1))
    added = as_classes[as_classes.source == "person"]
    picked = pick_persons(kept, 2, 2, seed=1)
    assert list(dict.fromkeys(added.pid)) == picked and set(added.target) == {CLASS}
    assert len(added) == sum(KEPT_PER_PERSON[p] for p in picked)
    assert (as_classes.source == "real").sum() == (real.split.isin(["train", "val"])).sum()
    assert set(as_classes.split) == {"train", "val"}  # no query or gallery image is trained on
    counts = summarize(as_classes, AugConfig(persons=2, seed=1))
    assert counts["persons_added"] == 2 and counts["images_added"] == len(added)
    assert counts["classes"] == real_train.pid.nunique() + 2 and counts["real_images"] == len(real_train)

    lsro = assemble_training_set(real, kept, AugConfig(persons=2, seed=1, labeling="lsro"))
    assert set(lsro.target[lsro.source == "person"]) == {UNIFORM}
    assert summarize(lsro, AugConfig(persons=2, labeling="lsro"))["classes"] == real_train.pid.nunique()
    assert assemble_training_set(real, kept, AugConfig(persons=2, seed=1)).equals(as_classes)  # deterministic


def test_nothing_added_is_the_real_training_set(real):
    assembled = assemble_training_set(real, None, AugConfig())
    assert set(assembled.source) == {"real"} and len(assembled) == real.split.isin(["train", "val"]).sum()
    assert summarize(assembled, AugConfig())["images_added"] == 0


def test_variants_of_real_persons_keep_the_real_pid(real, tmp_path):
    with pytest.raises(ReidError, match="aug.images_per_person=3, but the invert stage kept no variations"):
        assemble_training_set(real, None, AugConfig(images_per_person=3))
    train_pids = sorted(set(real.pid[real.split == "train"]))
    variants = pd.DataFrame([{"path": str(tmp_path / f"v{pid}_{k}.jpg"), "pid": pid, "camid": 1}
                             for pid in train_pids for k in range(4)])
    assembled = assemble_training_set(real, None, AugConfig(images_per_person=3), variants)
    added = assembled[assembled.source == "variant"]
    assert added.groupby("pid").size().to_dict() == {pid: 3 for pid in train_pids}
    assert summarize(assembled, AugConfig(images_per_person=3))["classes"] == len(train_pids)
    assert summarize(assembled, AugConfig(images_per_person=3))["variant_persons_short"] == 0
    fewer = assemble_training_set(real, None, AugConfig(images_per_person=5), variants[1:])
    counts = summarize(fewer, AugConfig(images_per_person=5))
    assert counts["variant_images_added"] == len(variants) - 1 and counts["variant_persons_short"] == len(train_pids)
    with pytest.raises(ReidError, match="variant pid 999 is not a real training identity"):
        assemble_training_set(real, None, AugConfig(images_per_person=1), variants.assign(pid=999))


def test_refusals(real, kept_set, tmp_path):
    for bad, message in [(dict(persons=-1), "aug.persons must be >= 0"),
                         (dict(images_per_person=-2), "aug.images_per_person must be >= 0"),
                         (dict(labeling="soft"), "aug.labeling must be one of new-class, lsro"),
                         (dict(min_images=0), "aug.min_images must be >= 1")]:
        with pytest.raises(ReidError, match=message):
            AugConfig(**bad)
    kept = read_generated_set(*kept_set)
    with pytest.raises(ReidError, match="has the pid of a real person"):
        assemble_training_set(real, kept.assign(pid=int(real.pid.iloc[0])), AugConfig(persons=1, min_images=1))
    assert set(kept.verdict) == {"kept"} and len(kept) == sum(KEPT_PER_PERSON.values())
    with pytest.raises(ReidError, match="nowhere/scores.csv: manifest not found; run the filter stage"):
        read_generated_set(kept_set[0], tmp_path / "nowhere")
    lacking = write_generated(tmp_path / "lacking", skip=kept.file[0])
    with pytest.raises(ReidError, match=r"lacking/images-000.tar/0100/0100_c1s1_000000_00.jpg: listed in "
                                        r".*filtered/scores.csv but missing \(1 missing\)"):
        read_generated_set(tmp_path / "lacking", kept_set[1])
    assert len(lacking) == len(kept) + sum(DISCARDED.values())


def test_index_names_files_relative_to_its_folder_and_round_trips(real, kept_set, tmp_path):
    values = {"persons": 3, "seed": 2}
    summary = run_assemble(values, tmp_path / "prepared", *kept_set, tmp_path / "nowhere",
                           tmp_path / "out" / "assembled", tmp_path)
    text = (tmp_path / "out/assembled/index.csv").read_text()
    assert str(tmp_path) not in text and "../../generated/images-001.tar/0" in text  # relative: the repo can move
    assembled = read_assembled(tmp_path / "out/assembled")
    assert len(assembled[assembled.split == "train"]) == summary["train_images"]
    assert all(image_exists(p) for p in assembled.path)
    expected = assemble_training_set(real, read_generated_set(*kept_set), AugConfig(persons=3, seed=2))
    assert list(assembled.path) == [str(Path(p)) for p in expected.path]
    picked = assembled.path[assembled.source == "person"].iloc[0]
    kept_set[0].rename(tmp_path / "old")  # new shards lacking a picked image
    write_generated(kept_set[0], skip=Path(picked).relative_to(kept_set[0]).as_posix())
    with pytest.raises(ReidError, match="named in .*index.csv but missing"):
        read_assembled(tmp_path / "out/assembled")


def test_lsro_loss_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])  # softmax: 0.25, 0.75
    labels = torch.tensor([1, -1])
    labelled, uniform = -math.log(0.75), -(math.log(0.25) + math.log(0.75)) / 2
    assert label_loss(logits, labels).item() == pytest.approx((labelled + uniform) / 2)
    assert label_loss(logits[:1], labels[:1]).item() == pytest.approx(labelled)  # plain cross-entropy
    only_uniform = label_loss(logits[1:], labels[1:])
    assert only_uniform.item() == pytest.approx(uniform)


def test_uniform_rows_add_no_class_and_are_trained_on(real, kept_set, tmp_path):
    kept = read_generated_set(*kept_set)
    assembled = assemble_training_set(real, kept, AugConfig(persons=2, labeling="lsro"))
    train = assembled[assembled.split == "train"].assign(uniform=assembled.target == UNIFORM)
    val = assembled[assembled.split == "val"]
    config = TrainConfig(arch="resnet18", height=32, width=16, epochs=1, batch_size=4)
    result = train_reid(train, val, config, tmp_path / "ckpt", "k", "cpu", 1, progress=False)
    assert result.classes == sorted(set(real.pid[real.split == "train"]))
    plain = train_reid(train[~train.uniform], val, config, tmp_path / "ckpt2", "k", "cpu", 1, progress=False)
    assert result.history[0]["train_loss"] != plain.history[0]["train_loss"]
