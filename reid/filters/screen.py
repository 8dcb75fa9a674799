"""Screening generated persons: pedestrian detector first, then SSIM against the seed image.

Thesis §5.1: an image whose person confidence is below the detector threshold
is discarded (Yolov4-tiny, 0.6); of the rest, an image whose SSIM to its
person's seed image (the first image of the person) is below 0.75 is
discarded. As in Tables 5.5 and 5.9, each filter's percentage is of the
images that reach it and the total's of all generated images.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reid.data.generated import KEPT, SEED_GROUP
from reid.data.images import load_image
from reid.errors import ReidError
from reid.filters.detector import load_detector
from reid.filters.quality import AUTO
from reid.filters.ssim import ssim
from reid.progress import progress_bar

DETECTOR = "detector"
SSIM = "ssim"
VERDICTS = (KEPT, DETECTOR, SSIM)
PERSON_SHAPE = (128, 64)


@dataclass(frozen=True)
class HogOptions:
    """params.yaml `filter.detector.hog:` (OpenCV's people detector on the edge-padded crop)."""

    pad: float = 0.25
    win_stride: int = 4
    scale_step: float = 1.05


@dataclass(frozen=True)
class YoloOptions:
    """params.yaml `filter.detector.yolo:` (external artifacts: the Darknet cfg and weights files)."""

    cfg: str = "data/external/yolo/yolov4-tiny.cfg"
    weights: str = "data/external/yolo/yolov4-tiny.weights"
    input_size: int = 416
    person_class: int = 0
    batch_size: int = 16


@dataclass(frozen=True)
class DetectorSettings:
    """params.yaml `filter.detector:` (thesis: yolov4-tiny at 0.6)."""

    backend: str = "hog"
    threshold: float | str = AUTO    # a person score, or `auto`: the one calibrate_filters found on the real images
    hog: HogOptions = field(default_factory=HogOptions)
    yolo: YoloOptions = field(default_factory=YoloOptions)

    def load(self):
        """The detector of `backend`, built with that backend's options."""
        options = {"hog": self.hog, "yolov4-tiny": self.yolo}.get(self.backend)
        return load_detector(self.backend, **(dataclasses.asdict(options) if options else {}))


@dataclass(frozen=True)
class SsimSettings:
    """params.yaml `filter.ssim:` (thesis: 0.75, read off real Market-1501 persons)."""

    threshold: float | str = AUTO    # an SSIM, or `auto`: the one calibrate_filters found on the real persons


@dataclass(frozen=True)
class FilterConfig:
    """params.yaml `filter:` section."""

    detector: DetectorSettings = field(default_factory=DetectorSettings)
    ssim: SsimSettings = field(default_factory=SsimSettings)
    grid: int = 48                     # example images per kept/discarded sheet (thesis Figs 5.6-5.8)
    target_rejection: float = 0.07     # calibrate_filters: largest threshold rejecting at most this share

    def __post_init__(self):
        if not 0 <= self.target_rejection < 1:
            raise ReidError(f"params: filter.target_rejection must be in [0, 1), got {self.target_rejection}")


def read_person_image(path: Path) -> np.ndarray:
    try:
        return load_image(path, *PERSON_SHAPE)
    except OSError as exc:
        raise ReidError(f"{path}: unreadable image ({exc})") from None


def detector_scores(paths: list[Path], detector, batch: int, progress: bool = True) -> np.ndarray:
    """Detector score of every image file, `batch` images at a time (calibration on real images)."""
    scores = [np.asarray(detector.scores(np.stack([read_person_image(p) for p in paths[i : i + batch]])),
                         dtype=np.float64)
              for i in progress_bar(range(0, len(paths), batch), desc="calibrate detector", unit="batch",
                            disable=not progress)]
    return np.concatenate(scores) if scores else np.zeros(0)


def score_images(folder: Path, manifest: pd.DataFrame, detector, batch: int, progress: bool = True) -> pd.DataFrame:
    """Detector score of every image and SSIM to its person's seed image (1 for the seed itself)."""
    seeds = manifest[manifest.group == SEED_GROUP].drop_duplicates("pid").set_index("pid").file
    detector_scores, similarities = [], []
    for start in progress_bar(range(0, len(manifest), batch), desc="filter", unit="batch", disable=not progress):
        rows = manifest.iloc[start : start + batch]
        images = np.stack([read_person_image(folder / f) for f in rows.file])
        references = np.stack([read_person_image(folder / seeds[pid]) for pid in rows.pid])
        detector_scores.append(np.asarray(detector.scores(images), dtype=np.float64))
        similarities.append(ssim(images, references))
    scored = manifest.copy()
    scored["detector_score"] = np.concatenate(detector_scores)
    scored["ssim"] = np.concatenate(similarities)
    return scored


def decide(scored: pd.DataFrame, detector_threshold: float, ssim_threshold: float) -> pd.Series:
    """Verdict per image: the first filter that discards it, else kept."""
    verdict = np.where(scored.detector_score < detector_threshold, DETECTOR,
                       np.where(scored.ssim < ssim_threshold, SSIM, KEPT))
    return pd.Series(verdict, index=scored.index, name="verdict")


def discard_table(verdicts: pd.Series, detector_name: str) -> pd.DataFrame:
    """Tables 5.5/5.9: per filter the images discarded and % of those it saw; total % of all.

    `detector_name` labels the first row (the filter stage adds the threshold and its source).
    """
    total = len(verdicts)
    by_detector = int((verdicts == DETECTOR).sum())
    by_ssim = int((verdicts == SSIM).sum())
    reaching_ssim = total - by_detector
    rows = [
        (detector_name, by_detector, 100 * by_detector / total if total else 0.0),
        ("SSIM", by_ssim, 100 * by_ssim / reaching_ssim if reaching_ssim else 0.0),
        ("TOTAL", by_detector + by_ssim, 100 * (by_detector + by_ssim) / total if total else 0.0),
    ]
    return pd.DataFrame(rows, columns=["method", "images_discarded", "percent"])


def discard_counts(table: pd.DataFrame) -> dict:
    """The discard table as metrics keys (images and % per filter, then the total), as filter and invert report it."""
    counts = {}
    for row, key in zip(table.itertuples(), ("detector", "ssim", "total")):
        counts[f"discarded_{key}"] = int(row.images_discarded)
        counts[f"discarded_{key}_pct"] = round(float(row.percent), 2)
    return counts


def real_ssim_per_person(images: pd.DataFrame, progress: bool = True) -> np.ndarray:
    """Thesis Fig 5.4: each person's first image (by path) against each of their other images."""
    values = []
    persons = images.sort_values("path").groupby("pid").path
    for _, paths in progress_bar(persons, desc="real SSIM", unit="person", disable=not progress):
        paths = list(paths)
        if len(paths) < 2:
            continue
        others = np.stack([read_person_image(Path(p)) for p in paths[1:]])
        reference = read_person_image(Path(paths[0]))
        values.append(ssim(others, np.broadcast_to(reference, others.shape).copy()))
    return np.concatenate(values) if values else np.zeros(0)
