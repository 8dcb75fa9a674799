"""Pedestrian detectors (HOG, YOLOv4-tiny through cv2.dnn) and threshold calibration."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from reid.errors import ReidError
from reid.filters.calibration import rejection_curve, threshold_for_rejection
from reid.filters.detector import load_detector

CLASSES = 2
ANCHORS = 2
ROW = 5 + CLASSES  # Darknet's per-anchor channels: tx, ty, tw, th, objectness, class logits

TINY_CFG = f"""[net]
batch=1
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[convolutional]
filters={ANCHORS * ROW}
size=1
stride=1
pad=0
activation=linear

[yolo]
mask=0,1
anchors=10,14, 23,27
classes={CLASSES}
num={ANCHORS}
thresh=0.5
"""


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def write_tiny_yolo(tmp_path, logits: list[dict[str, float]]):
    """A 2-layer Darknet net whose output is constant: zero weights into the last conv, its biases = logits.

    `logits` gives per anchor the objectness and class logits ("obj", "c0", "c1").
    The first layer has batch norm and non-zero values, so a misread file
    layout would shift the last layer's biases and change the scores.
    """
    cfg = tmp_path / "tiny.cfg"
    weights = tmp_path / "tiny.weights"
    cfg.write_text(TINY_CFG)
    first_filters, last_filters = 4, ANCHORS * ROW
    last_biases = np.zeros(last_filters, np.float32)
    for anchor, values in enumerate(logits):
        last_biases[anchor * ROW + 4] = values["obj"]
        for c in range(CLASSES):
            last_biases[anchor * ROW + 5 + c] = values[f"c{c}"]
    with open(weights, "wb") as f:
        np.array([0, 2, 0], np.int32).tofile(f)  # major, minor, revision
        np.array([64000], np.int64).tofile(f)  # images seen: int64 since version 0.2
        np.full(first_filters, 0.1, np.float32).tofile(f)  # BN biases
        np.full(first_filters, 1.5, np.float32).tofile(f)  # BN scales
        np.full(first_filters, 0.2, np.float32).tofile(f)  # rolling mean
        np.full(first_filters, 2.0, np.float32).tofile(f)  # rolling variance
        np.full(first_filters * 3 * 3 * 3, 0.01, np.float32).tofile(f)  # conv weights
        last_biases.tofile(f)
        np.zeros(last_filters * first_filters, np.float32).tofile(f)
    return cfg, weights


def random_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 128, 64, 3), dtype=np.uint8)


def test_yolo_score_is_best_objectness_times_person_probability(tmp_path):
    cfg, weights = write_tiny_yolo(tmp_path, [{"obj": 2, "c0": 1, "c1": -1}, {"obj": 0, "c0": 3, "c1": 4}])
    detector = load_detector("yolov4-tiny", cfg=str(cfg), weights=str(weights), input_size=32, batch_size=2)
    scores = detector.scores(random_images(3))
    assert detector.name == "yolov4-tiny"
    assert scores.dtype == np.float64 and scores.shape == (3,)
    np.testing.assert_allclose(scores, sigmoid(2) * sigmoid(1), atol=1e-5)  # anchor 0 beats 0.5 * sigmoid(3)
    other_class = load_detector("yolov4-tiny", cfg=cfg, weights=weights, input_size=32, person_class=1)
    np.testing.assert_allclose(other_class.scores(random_images(1)), sigmoid(0) * sigmoid(4), atol=1e-5)


def test_yolo_keeps_confidences_below_opencv_cutoff(tmp_path):
    """OpenCV zeroes class scores under the cfg's `thresh` (0.5 in TINY_CFG); calibration needs them."""
    cfg, weights = write_tiny_yolo(tmp_path, [{"obj": -1, "c0": -2, "c1": 0}, {"obj": -3, "c0": 0, "c1": 0}])
    detector = load_detector("yolov4-tiny", cfg=cfg, weights=weights, input_size=32)
    np.testing.assert_allclose(detector.scores(random_images(2)), sigmoid(-1) * sigmoid(-2), atol=1e-6)


def test_yolo_missing_or_broken_files_are_named(tmp_path):
    cfg, weights = write_tiny_yolo(tmp_path, [{"obj": 0, "c0": 0, "c1": 0}] * ANCHORS)
    with pytest.raises(ReidError, match=r"absent\.weights: yolov4-tiny weights not found; .*dvc import-url"):
        load_detector("yolov4-tiny", cfg=cfg, weights=tmp_path / "absent.weights")
    garbage = tmp_path / "garbage.cfg"
    garbage.write_text("this is not\na darknet cfg\n")
    with pytest.raises(ReidError, match=r"garbage\.cfg .*cannot load"):
        load_detector("yolov4-tiny", cfg=garbage, weights=weights)
    with pytest.raises(ReidError, match="person_class 2 but the network has 2 classes"):
        load_detector("yolov4-tiny", cfg=cfg, weights=weights, input_size=32, person_class=2).scores(random_images(1))


def test_load_detector_rejects_unknown_backend_and_options():
    with pytest.raises(ReidError, match="unknown detector backend 'ssd'; choose one of hog, yolov4-tiny"):
        load_detector("ssd")
    with pytest.raises(ReidError, match="unknown option 'threshold'; valid options: pad, win_stride, scale_step"):
        load_detector("hog", threshold=0.6)
    with pytest.raises(ReidError, match="missing option 'cfg'"):
        load_detector("yolov4-tiny")
    with pytest.raises(ReidError, match="scale_step must be > 1"):
        load_detector("hog", scale_step=1.0)
    with pytest.raises(ReidError, match="input_size must be a positive multiple of 32"):
        load_detector("yolov4-tiny", cfg="any.cfg", weights="any.weights", input_size=300)


def pedestrian(background: int = 200) -> np.ndarray:
    """A 128x64 RGB figure filling the crop like a re-ID box: head, torso with arms, two legs."""
    image = np.full((128, 64, 3), background, np.uint8)
    cv2.circle(image, (32, 18), 9, (60, 40, 30), -1)
    cv2.rectangle(image, (20, 28), (44, 72), (40, 60, 140), -1)
    cv2.rectangle(image, (14, 30), (19, 66), (40, 60, 140), -1)
    cv2.rectangle(image, (45, 30), (50, 66), (40, 60, 140), -1)
    cv2.rectangle(image, (21, 73), (30, 120), (50, 50, 50), -1)
    cv2.rectangle(image, (34, 73), (43, 120), (50, 50, 50), -1)
    return image


def test_hog_scores_a_figure_above_noise_and_blank():
    person = pedestrian()
    images = np.stack([person, np.full_like(person, 128), *random_images(2), person[::-1]])
    detector = load_detector("hog")
    scores = detector.scores(images)
    assert detector.name == "hog"
    assert scores.dtype == np.float64 and scores.shape == (5,)
    assert scores[0] > 1.0 > max(scores[2:])
    svm_bias = float(cv2.HOGDescriptor_getDefaultPeopleDetector().ravel()[-1])
    assert scores[1] == pytest.approx(svm_bias)  # no gradients, so only the bias is left
    assert scores[4] < scores[0]  # upside down is no pedestrian


def test_hog_is_deterministic_per_image_and_colour_order_free():
    images = np.stack([pedestrian(), pedestrian(90), *random_images(2, seed=1)])
    detector = load_detector("hog", win_stride=8)
    scores = detector.scores(images)
    np.testing.assert_array_equal(scores, detector.scores(images))
    np.testing.assert_array_equal(scores[1:3], detector.scores(images[1:3]))
    np.testing.assert_array_equal(scores, detector.scores(np.ascontiguousarray(images[..., ::-1])))


def test_hog_brings_other_sizes_to_the_crop_size():
    large_person = cv2.resize(pedestrian(), (128, 256), interpolation=cv2.INTER_NEAREST)
    large_noise = np.random.default_rng(0).integers(0, 256, (256, 128, 3), dtype=np.uint8)
    scores = load_detector("hog").scores(np.stack([large_person, large_noise]))
    assert scores[0] > 1.0 > scores[1]


@pytest.mark.parametrize("bad", [
    np.zeros((2, 128, 64, 3), np.float32),
    np.zeros((128, 64, 3), np.uint8),
    np.zeros((2, 128, 64), np.uint8),
    [[0]],
])
def test_detectors_reject_wrong_input(bad):
    with pytest.raises(ReidError, match=r"uint8 RGB images shaped \(N, H, W, 3\)"):
        load_detector("hog").scores(bad)


def test_rejection_curve_counts_scores_strictly_below_threshold():
    scores = [2.0, 1.0, 3.0, 2.0, 2.0]
    curve = rejection_curve(scores, [0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
    np.testing.assert_allclose(curve, [0, 0, 20, 20, 80, 80, 100])


@pytest.mark.parametrize("rate, expected", [
    (0.0, 1.0), (0.19, 1.0), (0.2, 2.0), (0.79, 2.0), (0.8, 3.0), (1.0, math.inf),
])
def test_threshold_for_rejection_with_ties(rate, expected):
    assert threshold_for_rejection([2.0, 1.0, 3.0, 2.0, 2.0], rate) == expected


def test_threshold_for_rejection_is_the_largest_allowed():
    scores = np.random.default_rng(3).normal(size=200).round(1)  # many ties
    for rate in (0.0, 0.0645, 0.07, 0.29, 0.5):
        threshold = threshold_for_rejection(scores, rate)
        assert np.mean(scores < threshold) <= rate
        assert np.mean(scores < np.nextafter(threshold, np.inf)) > rate
    assert threshold_for_rejection(np.arange(100.0), 0.29) == 29.0  # 0.29 * 100 is 28.999...


def test_calibration_rejects_bad_input():
    with pytest.raises(ReidError, match="fraction in"):
        threshold_for_rejection([1.0], 7)
    with pytest.raises(ReidError, match="no detector scores"):
        rejection_curve([], [0.5])
    with pytest.raises(ReidError, match="NaN"):
        threshold_for_rejection([1.0, float("nan")], 0.1)
