"""Judging generated persons as the filter will: the calibrated detector threshold and the share it accepts.

FID in the re-ID model's feature space can improve while the images do not
(the GAN may learn what that network attends to), so the headline measure of
a generator is the share of its images the pedestrian detector accepts at the
threshold that rejects `filter.target_rejection` of the *real* training
images (thesis: 81% of StyleGAN3's images kept). `calibrate_filters` finds
that threshold on the data set in use; `threshold: auto` takes it from there.
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


def resolve_threshold(setting: float | str, backend: str, calibration: Path = CALIBRATION_FILE) -> Threshold:
    """`setting` as a number, or for `auto` the threshold `calibrate_filters` found for `backend`."""
    if setting != AUTO:
        if isinstance(setting, str):
            raise ReidError(f"params: filter.detector.threshold must be a number or '{AUTO}', got {setting!r}")
        return Threshold(float(setting), "params")
    if not calibration.is_file():
        raise ReidError(f"{calibration}: not found; threshold '{AUTO}' needs the calibrate_filters stage "
                        f"(dvc repro calibrate_filters or reid filter calibrate) first")
    try:
        found = json.loads(calibration.read_text())
        value, calibrated_for = float(found["suggested_threshold"]), found["detector"]
        real, target = int(found["real_images"]), float(found["target_rejection"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ReidError(f"{calibration}: not a calibration written by calibrate_filters ({type(exc).__name__})") from None
    if calibrated_for != backend:
        raise ReidError(f"{calibration}: calibrated for the {calibrated_for} detector, not {backend}; "
                        f"rerun calibrate_filters")
    return Threshold(value, f"{AUTO}: rejects at most {100 * target:g}% of {real} real training images ({calibration})")


def detector_acceptance(scores: np.ndarray, threshold: float) -> float:
    """Share of images whose person score reaches the threshold (an image at the threshold is kept)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ReidError("no detector scores to measure acceptance on")
    return float(np.mean(scores >= threshold))
