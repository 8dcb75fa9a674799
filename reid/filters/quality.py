"""Judging generated persons as the filter will: the calibrated thresholds (detector, SSIM) and the detector's share.

FID in the re-ID model's feature space can improve while the images do not
(the GAN may learn what that network attends to), so the headline measure of
a generator is the share of its images the pedestrian detector accepts at the
threshold that rejects `filter.target_rejection` of the *real* training
images (thesis: 81% of StyleGAN3's images kept). `calibrate_filters` finds
that threshold on the data set in use; `threshold: auto` takes it from there,
and likewise the SSIM threshold from the real images of one person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.errors import ReidError

AUTO = "auto"
CALIBRATION_FILE = Path("metrics/calibration.json")


@dataclass(frozen=True)
class Threshold:
    """A detector threshold and where it came from (for the discard table and metrics)."""

    value: float
    source: str


def _check_setting(setting: float | str, key: str) -> None:
    if isinstance(setting, str) and setting != AUTO:
        raise ReidError(f"params: {key} must be a number or '{AUTO}', got {setting!r}")


def _read_calibration(calibration: Path, key: str) -> dict:
    """calibrate_filters' summary, needed because `key` is `auto`."""
    if not calibration.is_file():
        raise ReidError(f"{calibration}: not found; {key} '{AUTO}' needs the calibrate_filters stage "
                        f"(dvc repro calibrate_filters or reid filter calibrate) first")
    try:
        return json.loads(calibration.read_text())
    except ValueError as exc:
        raise ReidError(f"{calibration}: not a calibration written by calibrate_filters ({type(exc).__name__})") from None


def resolve_threshold(setting: float | str, backend: str, calibration: Path = CALIBRATION_FILE) -> Threshold:
    """`setting` as a number, or for `auto` the threshold `calibrate_filters` found for `backend`."""
    _check_setting(setting, "filter.detector.threshold")
    if setting != AUTO:
        return Threshold(float(setting), "params")
    found = _read_calibration(calibration, "threshold")
    try:
        value, calibrated_for = float(found["suggested_threshold"]), found["detector"]
        real, target = int(found["real_images"]), float(found["target_rejection"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReidError(f"{calibration}: not a calibration written by calibrate_filters ({type(exc).__name__})") from None
    if calibrated_for != backend:
        raise ReidError(f"{calibration}: calibrated for the {calibrated_for} detector, not {backend}; "
                        f"rerun calibrate_filters")
    return Threshold(value, f"{AUTO}: rejects at most {100 * target:g}% of {real} real training images ({calibration})")


def resolve_ssim_threshold(setting: float | str, calibration: Path = CALIBRATION_FILE) -> Threshold:
    """`setting` as a number, or for `auto` the SSIM threshold `calibrate_filters` read off the real persons.

    The thesis chose its 0.75 from the histogram of SSIM between real images of
    one person on Market-1501 (its Fig 5.4); `auto` makes the same choice on the
    data set in use, by the detector's rule: the largest threshold that rejects at
    most `filter.target_rejection` of those real pairs.
    """
    _check_setting(setting, "filter.ssim.threshold")
    if setting != AUTO:
        return Threshold(float(setting), "params")
    found = _read_calibration(calibration, "filter.ssim.threshold")
    try:
        value, pairs, target = found["suggested_ssim_threshold"], int(found["real_ssim_pairs"]), float(found["target_rejection"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReidError(f"{calibration}: no SSIM calibration in it ({type(exc).__name__}); rerun calibrate_filters") from None
    if value is None:
        raise ReidError(f"{calibration}: no real person has two training images to calibrate SSIM on; "
                        f"set filter.ssim.threshold to a number")
    return Threshold(float(value), f"{AUTO}: rejects at most {100 * target:g}% of {pairs} real same-person pairs "
                                   f"({calibration})")


def detector_acceptance(scores: np.ndarray, threshold: float) -> float:
    """Share of images whose person score reaches the threshold (an image at the threshold is kept)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ReidError("no detector scores to measure acceptance on")
    return float(np.mean(scores >= threshold))
