"""Screening generated persons: verdict order, discard table, kept + discarded = generated, bad folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_generator
from PIL import Image

from reid.errors import ReidError
from reid.filters.detector import load_detector
from reid.data.generated import MANIFEST, SCORES, read_manifest
from reid.data.images import load_image
from reid.data.shards import ImageWriter, read_image_bytes
from reid.filters.screen import (DETECTOR, KEPT, SSIM, decide, discard_table, real_ssim_per_person,
                                 score_images)
from reid.filters.ssim import ssim
from reid.gan.mixing import GenerationConfig, plan_persons, render_persons
from reid.pipeline.calibrate_filters import run_calibration
from reid.pipeline.filter import run_filter
from reid.pipeline.prepare import run_prepare


class BrightnessScore:
    """A detector stand-in whose score is the image's mean brightness: verdicts the test can predict."""

    name = "brightness"

    def scores(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).mean(1)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    config = GenerationConfig(persons=4, images_per_person=6, seed=3, grid_persons=0)
    plan = plan_persons(config, first_pid=100)
    render_persons(tiny_generator(), plan, config, folder, torch.device("cpu"), 8, progress=False)
    plan.to_csv(folder / MANIFEST, index=False)
    return folder


def test_verdicts_follow_the_filter_order():
    scored = pd.DataFrame({"detector_score": [0.9, 0.1, 0.9, 0.1, 0.6], "ssim": [0.9, 0.9, 0.5, 0.5, 0.75]})
    assert list(decide(scored, 0.6, 0.75)) == [KEPT, DETECTOR, SSIM, DETECTOR, KEPT]


def test_discard_table_percentages_as_the_thesis_counts_them():
    verdicts = pd.Series([DETECTOR] * 20 + [SSIM] * 8 + [KEPT] * 72)
    table = discard_table(verdicts, "hog pedestrian detection (score < 1.9)")
    assert list(table.images_discarded) == [20, 8, 28]
    assert table.percent.tolist() == pytest.approx([20.0, 10.0, 28.0])  # SSIM: 8 of the 80 that reached it
    assert table.method.tolist() == ["hog pedestrian detection (score < 1.9)", "SSIM", "TOTAL"]


def test_scores_compare_every_image_with_its_seed_image(generated):
    manifest = read_manifest(generated)
    scored = score_images(generated, manifest, BrightnessScore(), batch=5, progress=False)
    seeds = scored.group == "seed"
    assert (scored.ssim[seeds] == 1.0).all() and (scored.ssim[~seeds] < 1.0).all()
    row = scored.iloc[7]
    seed_row = scored[(scored.pid == row.pid) & seeds].iloc[0]
    image, reference = (load_image(generated / f, 128, 64)[None] for f in (row.file, seed_row.file))
    assert row.ssim == pytest.approx(ssim(image, reference)[0], abs=1e-12)
    assert row.detector_score == pytest.approx(image.mean())


def test_filter_stage_accounts_for_every_image(generated, tmp_path):
    scored = score_images(generated, read_manifest(generated), load_detector("hog"), batch=64, progress=False)
    detector_threshold = float(np.median(scored.detector_score))
    ssim_threshold = float(scored.ssim[scored.detector_score >= detector_threshold].median())
    expected = decide(scored, detector_threshold, ssim_threshold).value_counts()
    assert expected[DETECTOR] > 0 and expected[SSIM] > 0 and expected[KEPT] > 0
    values = {"detector": {"backend": "hog", "threshold": detector_threshold}, "ssim": {"threshold": ssim_threshold},
              "grid": 6}
    summary = run_filter(values, {}, generated, tmp_path / "out", tmp_path / "metrics", progress=False)
    assert summary["detector_threshold_source"] == "params"
    scores = pd.read_csv(tmp_path / "out" / SCORES, keep_default_na=False)
    assert list(scores.file) == list(read_manifest(generated).file)
    kept, by_detector, by_ssim = (scores[scores.verdict == v] for v in (KEPT, DETECTOR, SSIM))
    assert (len(kept), len(by_detector), len(by_ssim)) == (expected[KEPT], expected[DETECTOR], expected[SSIM])
    assert len(kept) + len(by_detector) + len(by_ssim) == summary["generated"] == 24
    assert summary["kept"] == len(kept) and summary["discarded_ssim"] == len(by_ssim)
    assert (by_detector.detector_score < detector_threshold).all() and (by_ssim.ssim < ssim_threshold).all()
    assert (kept.ssim >= ssim_threshold).all() and (kept.detector_score >= detector_threshold).all()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [  # lists and sheets: no image copied
        ".reid-output", "detector.png", "kept.png", SCORES, "ssim.png"]
    assert json.loads((tmp_path / "metrics" / "filter.json").read_text()) == summary
    for sheet in ("kept", "detector", "ssim"):
        assert (tmp_path / "out" / f"{sheet}.png").is_file()
    table = pd.read_csv(tmp_path / "metrics" / "filter_table.tsv", sep="\t")
    assert table.images_discarded.iloc[-1] == summary["discarded_total"] == 24 - len(kept)


def test_real_ssim_compares_each_person_with_their_first_image(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        path = tmp_path / f"0001_c1s1_{k:06d}_00.jpg"
        Image.fromarray(rng.integers(0, 256, (128, 64, 3), dtype=np.uint8)).save(path, quality=95)
        paths.append(str(path))
    lone = tmp_path / "0002_c1s1_000000_00.jpg"
    Image.open(paths[0]).save(lone)
    values = real_ssim_per_person(pd.DataFrame({"path": paths + [str(lone)], "pid": [1, 1, 1, 2]}), progress=False)
    assert values.shape == (2,)  # person 1: two comparisons; person 2 has a single image
    first, second = (np.array(Image.open(p))[None] for p in paths[:2])
    assert values[0] == pytest.approx(ssim(second, first)[0])


def test_bad_generated_folders(generated, tmp_path):
    with pytest.raises(ReidError, match="manifest.csv: manifest not found"):
        read_manifest(tmp_path)
    plan = pd.read_csv(generated / MANIFEST, keep_default_na=False)
    for shard in generated.glob("*.tar"):
        shutil.copyfile(shard, tmp_path / shard.name)
    plan[plan.group != "seed"].to_csv(tmp_path / MANIFEST, index=False)
    with pytest.raises(ReidError, match="has no seed image"):
        read_manifest(tmp_path)
    plan.to_csv(tmp_path / MANIFEST, index=False)
    for folder, image_1 in (("lacking", None), ("bad", b"not a jpeg")):  # shards without image 1, with junk for it
        with ImageWriter(tmp_path / folder) as writer:
            for file in plan.file:
                data = image_1 if file == plan.file[1] else read_image_bytes(generated / file)
                if data is not None:
                    writer.add(file, data)
    plan.to_csv(tmp_path / "lacking" / MANIFEST, index=False)
    with pytest.raises(ReidError, match=r"lacking/images-000.tar/0100/0100_c2s1_000001_00.jpg: listed in "
                                        r".*manifest.csv but missing \(1 missing\)"):
        read_manifest(tmp_path / "lacking")
    with pytest.raises(ReidError, match="images-000.tar/0100/0100_c2s1_000001_00.jpg: unreadable image"):
        score_images(tmp_path / "bad", plan, BrightnessScore(), batch=8, progress=False)
    plan.drop(columns="pid").to_csv(tmp_path / MANIFEST, index=False)
    with pytest.raises(ReidError, match="missing column 'pid'"):
        read_manifest(tmp_path)
    with pytest.raises(ReidError, match="unknown key filter.detector.colour"):
        run_filter({"detector": {"colour": 1}}, {}, generated, tmp_path / "out", None, progress=False)
    plan.head(0).to_csv(tmp_path / MANIFEST, index=False)  # a header and no rows
    with pytest.raises(ReidError, match="manifest.csv: the manifest lists no images"):
        read_manifest(tmp_path)
    assert not (tmp_path / "out").exists()


def test_calibration_without_training_images_is_one_error(market_root, tmp_path):
    run_prepare({"source": "market1501", "market1501_root": str(market_root)}, tmp_path / "p", False)
    index = pd.read_csv(tmp_path / "p" / "index.csv")
    index[index.split != "train"].to_csv(tmp_path / "p" / "index.csv", index=False)
    with pytest.raises(ReidError, match="the index has no training images to calibrate the filters on"):
        run_calibration({}, {}, tmp_path / "p", tmp_path / "metrics", progress=False)
    assert not (tmp_path / "metrics").exists()
