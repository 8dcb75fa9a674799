"""The GAN quality measure: the calibrated detector threshold (`auto`) and the share of images it accepts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reid.config import from_section
from reid.data.images import load_image
from reid.data.index import read_index
from reid.errors import ReidError
from reid.filters.quality import AUTO, detector_acceptance, resolve_ssim_threshold, resolve_threshold
from reid.filters.screen import DetectorSettings, real_ssim_per_person
from reid.pipeline.calibrate_filters import run_calibration
from reid.pipeline.evaluate_gan import GanEvalConfig, at_gan_size, choose_network
from reid.pipeline.prepare import run_prepare

TINY_SET = {"synthetic": {"train_ids": 12, "test_ids": 4, "images_per_id": 8, "gallery_per_id": 3,
                          "distractors": 2, "junk": 2}}


def _calibration(tmp_path, suggested, detector="hog", name="calibration.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"detector": detector, "suggested_threshold": suggested, "real_images": 100,
                                "target_rejection": 0.07}))
    return path


def test_a_number_is_taken_as_given_and_auto_follows_the_calibration(tmp_path):
    assert resolve_threshold(1.5, "hog", tmp_path / "none.json").value == 1.5
    first = resolve_threshold(AUTO, "hog", _calibration(tmp_path, 1.9))
    assert first.value == 1.9 and first.source.startswith("auto: rejects at most 7% of 100 real training images")
    assert resolve_threshold(AUTO, "hog", _calibration(tmp_path, 0.5)).value == 0.5  # another data set's calibration


def test_auto_without_a_matching_calibration_is_one_error(tmp_path):
    with pytest.raises(ReidError, match="none.json: not found; threshold 'auto' needs the calibrate_filters stage"):
        resolve_threshold(AUTO, "hog", tmp_path / "none.json")
    with pytest.raises(ReidError, match="calibrated for the hog detector, not yolov4-tiny"):
        resolve_threshold(AUTO, "yolov4-tiny", _calibration(tmp_path, 1.9))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ReidError, match="bad.json: not a calibration written by calibrate_filters"):
        resolve_threshold(AUTO, "hog", tmp_path / "bad.json")
    with pytest.raises(ReidError, match="must be a number or 'auto', got 'high'"):
        resolve_threshold("high", "hog", tmp_path / "none.json")


def test_ssim_auto_follows_the_calibration_of_real_persons(tmp_path):
    assert resolve_ssim_threshold(0.75, tmp_path / "none.json") == resolve_ssim_threshold(0.75)
    assert resolve_ssim_threshold(0.75, tmp_path / "none.json").source == "params"
    path = tmp_path / "calibration.json"
    for suggested in (0.31, 0.62):  # another data set, another threshold
        path.write_text(json.dumps({"suggested_ssim_threshold": suggested, "real_ssim_pairs": 40, "target_rejection": 0.07}))
        threshold = resolve_ssim_threshold(AUTO, path)
        assert threshold.value == suggested
        assert threshold.source.startswith("auto: rejects at most 7% of 40 real same-person pairs")


@pytest.mark.parametrize("content, message", [
    (None, "none.json: not found; filter.ssim.threshold 'auto' needs the calibrate_filters stage"),
    ({"suggested_threshold": 1.9, "detector": "hog", "real_images": 9, "target_rejection": 0.07},
     "no SSIM calibration in it (KeyError); rerun calibrate_filters"),  # written before SSIM was calibrated
    ({"suggested_ssim_threshold": None, "real_ssim_pairs": 0, "target_rejection": 0.07},
     "no real person has two training images to calibrate SSIM on; set filter.ssim.threshold to a number"),
])
def test_ssim_auto_without_a_usable_calibration_is_one_error(tmp_path, content, message):
    path = tmp_path / ("none.json" if content is None else "calibration.json")
    if content is not None:
        path.write_text(json.dumps(content))
    with pytest.raises(ReidError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_ssim_threshold(AUTO, path)
    with pytest.raises(ReidError, match="params: filter.ssim.threshold must be a number or 'auto', got 'low'"):
        resolve_ssim_threshold("low", path)


def test_acceptance_counts_scores_at_or_above_the_threshold():
    assert detector_acceptance(np.array([0.0, 1.0, 2.0, 3.0]), 2.0) == 0.5
    with pytest.raises(ReidError, match="no detector scores"):
        detector_acceptance(np.array([]), 1.0)


def test_calibration_on_real_images_accepts_the_share_it_promises(tmp_path):
    """Real training images measured at their own `auto` threshold pass at >= 1 - target_rejection (93%)."""
    run_prepare(TINY_SET, tmp_path / "prepared", progress=False)
    summary = run_calibration({}, {}, tmp_path / "prepared", tmp_path / "metrics", progress=False)
    threshold = resolve_threshold(AUTO, "hog", tmp_path / "metrics" / "calibration.json")
    assert threshold.value == summary["suggested_threshold"] == summary["threshold"]
    index = read_index(tmp_path / "prepared")
    train = np.stack([load_image(path, 128, 64) for path in index.path[index.split == "train"]])
    accepted = detector_acceptance(DetectorSettings().load().scores(train), threshold.value)
    assert 0.93 <= accepted < 1.0 and accepted == pytest.approx(1 - summary["rejected_pct_at_threshold"] / 100, abs=1e-4)
    # the same rule for SSIM: real images of one person keep >= 93% of their pairs at the auto threshold
    similarities = real_ssim_per_person(index[index.split == "train"], progress=False)
    ssim_threshold = resolve_ssim_threshold(AUTO, tmp_path / "metrics" / "calibration.json")
    assert ssim_threshold.value == summary["suggested_ssim_threshold"] == summary["ssim_threshold"]
    per_person = index[index.split == "train"].groupby("pid").size()
    assert summary["real_ssim_pairs"] == len(similarities) == (per_person - 1).sum()  # first image against the others
    kept = np.mean(similarities >= ssim_threshold.value)
    assert 0.93 <= kept < 1.0 and kept == pytest.approx(1 - summary["real_ssim_below_threshold_pct"] / 100, abs=1e-4)


def test_the_gan_size_reference_keeps_the_layout_and_loses_the_detail_the_gan_cannot_draw():
    """FID at the GAN size compares with the crops as the GAN is trained on them: shrunk by area, enlarged back."""
    crops = torch.zeros(2, 3, 128, 64, dtype=torch.uint8)
    crops[0, :, :64] = 200  # coarse: a bright upper half
    crops[1, :, :, ::2] = 255  # fine: 1-pixel vertical stripes, finer than a 64x32 GAN's pixels
    seen = at_gan_size(crops, 64, 32)
    assert seen.shape == crops.shape and seen.dtype == torch.uint8
    assert seen[0, :, 8:56].eq(200).all() and seen[0, :, 72:120].eq(0).all()  # the layout survives
    assert (seen[1].float() - 127.5).abs().max() < 2  # the stripes average to grey
    assert torch.equal(at_gan_size(crops, 128, 64), crops)  # at the crops' own size nothing changes


def test_the_network_later_stages_use_is_the_most_accepted_near_the_best_fid_or_the_last():
    shares, fids = (0.1, 0.6, 0.2, 0.6, 0.3), (40.0, 20.0, 12.0, 13.0, 12.5)
    rows = [{"detector_acceptance": share, "fid": fid} for share, fid in zip(shares, fids)]
    assert choose_network(rows, "detector", 1.0) == 3  # a tie goes to the later network (more training)
    assert choose_network(rows, "detector", 0.1) == 3  # 13.0 <= 1.1 x 12.0; network 1 (FID 20) is out
    assert choose_network(rows, "detector", 0.05) == 4  # 13.0 > 1.05 x 12.0
    assert choose_network(rows, "detector", 0.0) == 2  # only the best FID competes
    assert choose_network(rows, "last", 0.0) == 4
    assert choose_network(rows[:1], "detector", 0.1) == 0
    with pytest.raises(ReidError, match="gan_eval.choose must be one of"):
        GanEvalConfig(choose="best")
    with pytest.raises(ReidError, match="gan_eval.fid_tolerance must be a number >= 0, got -0.1"):
        GanEvalConfig(fid_tolerance=-0.1)
    with pytest.raises(ReidError, match="gan_eval.fid_tolerance must be a float, got '0.1'"):
        from_section(GanEvalConfig, {"fid_tolerance": "0.1"}, "gan_eval")
