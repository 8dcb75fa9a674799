"""Screening generated persons: pedestrian detector first, then SSIM against the seed image.

Thesis §5.1: an image whose person confidence is below the detector threshold
is discarded (Yolov4-tiny, 0.6); of the rest, an image whose SSIM to its
person's seed image (the first image of the person) is below 0.75 is
discarded. As in Tables 5.5 and 5.9, each filter's percentage is of the
images that reach it and the total's of all generated images.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from reid.config import from_section
from reid.data.images import load_image
from reid.errors import ReidError
from reid.filters.ssim import ssim
from reid.gan.mixing import MANIFEST, MANIFEST_COLUMNS, SEED_GROUP

KEPT = "kept"
DETECTOR = "detector"
SSIM = "ssim"
VERDICTS = (KEPT, DETECTOR, SSIM)
PERSON_SHAPE = (128, 64)


@dataclass(frozen=True)
class DetectorSettings:
    """params.yaml `filter.detector:` (thesis: yolov4-tiny at 0.6)."""

    backend: str = "hog"
    threshold: float = 0.0
    options: dict = field(default_factory=dict)  # backend options, e.g. cfg/weights paths for yolov4-tiny


@dataclass(frozen=True)
class SsimSettings:
    """params.yaml `filter.ssim:` (thesis: 0.75)."""

    threshold: float = 0.75


@dataclass(frozen=True)
class FilterConfig:
    """params.yaml `filter:` section."""

    detector: dict = field(default_factory=dict)
    ssim: dict = field(default_factory=dict)
    batch: int = 256
    grid: int = 48                     # example images per kept/discarded sheet (thesis Figs 5.6-5.8)
    target_rejection: float = 0.07     # `reid filter calibrate`: largest threshold rejecting at most this share

    def detector_settings(self) -> DetectorSettings:
        return from_section(DetectorSettings, self.detector, "filter.detector")

    def ssim_settings(self) -> SsimSettings:
        return from_section(SsimSettings, self.ssim, "filter.ssim")


def read_manifest(folder: Path) -> pd.DataFrame:
    """The manifest of a generated folder, checked: columns, files present, a seed image per person."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ReidError(f"{path}: manifest not found; generate the images first (reid generate)")
    manifest = pd.read_csv(path, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ReidError(f"{path}: missing column {missing[0]!r} (expected {', '.join(MANIFEST_COLUMNS)})")
    absent = [f for f in manifest.file if not (folder / f).is_file()]
    if absent:
        raise ReidError(f"{folder / absent[0]}: listed in {MANIFEST} but missing ({len(absent)} missing)")
    seedless = sorted(set(manifest.pid) - set(manifest.pid[manifest.group == SEED_GROUP]))
    if seedless:
        raise ReidError(f"{path}: person {seedless[0]} has no seed image (group '{SEED_GROUP}') to compare with")
    return manifest


def read_person_image(path: Path) -> np.ndarray:
    try:
        return load_image(path, *PERSON_SHAPE)
    except OSError as exc:
        raise ReidError(f"{path}: unreadable image ({exc})") from None


def detector_scores(paths: list[Path], detector, batch: int, progress: bool = True) -> np.ndarray:
    """Detector score of every image file, `batch` images at a time (calibration on real images)."""
    scores = [np.asarray(detector.scores(np.stack([read_person_image(p) for p in paths[i : i + batch]])),
                         dtype=np.float64)
              for i in tqdm(range(0, len(paths), batch), desc="calibrate detector", unit="batch",
                            disable=not progress)]
    return np.concatenate(scores) if scores else np.zeros(0)


def score_images(folder: Path, manifest: pd.DataFrame, detector, batch: int, progress: bool = True) -> pd.DataFrame:
    """Detector score of every image and SSIM to its person's seed image (1 for the seed itself)."""
    seeds = manifest[manifest.group == SEED_GROUP].drop_duplicates("pid").set_index("pid").file
    detector_scores, similarities = [], []
    for start in tqdm(range(0, len(manifest), batch), desc="filter", unit="batch", disable=not progress):
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
    """Tables 5.5/5.9: per filter the images discarded and % of those it saw; total % of all."""
    total = len(verdicts)
    by_detector = int((verdicts == DETECTOR).sum())
    by_ssim = int((verdicts == SSIM).sum())
    reaching_ssim = total - by_detector
    rows = [
        (f"{detector_name} pedestrian detection", by_detector, 100 * by_detector / total if total else 0.0),
        ("SSIM", by_ssim, 100 * by_ssim / reaching_ssim if reaching_ssim else 0.0),
        ("TOTAL", by_detector + by_ssim, 100 * (by_detector + by_ssim) / total if total else 0.0),
    ]
    return pd.DataFrame(rows, columns=["method", "images_discarded", "percent"])


def link_or_copy(source: Path, target: Path) -> None:
    """Hard link when the file system allows it (no second copy of 20k images), else copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_sets(source: Path, scored: pd.DataFrame, output: Path, progress: bool = True) -> None:
    """kept/ and discarded/<filter>/, each with its images (same relative paths) and manifest."""
    for verdict in VERDICTS:
        subset = scored[scored.verdict == verdict]
        folder = output / KEPT if verdict == KEPT else output / "discarded" / verdict
        folder.mkdir(parents=True, exist_ok=True)
        for file in tqdm(subset.file, desc=f"write {verdict}", unit="img", disable=not progress):
            link_or_copy(source / file, folder / file)
        subset.drop(columns="verdict").to_csv(folder / MANIFEST, index=False, float_format="%.6f")


def real_ssim_per_person(images: pd.DataFrame, progress: bool = True) -> np.ndarray:
    """Thesis Fig 5.4: each person's first image (by path) against each of their other images."""
    values = []
    persons = images.sort_values("path").groupby("pid").path
    for _, paths in tqdm(persons, desc="real SSIM", unit="person", disable=not progress):
        paths = list(paths)
        if len(paths) < 2:
            continue
        others = np.stack([read_person_image(Path(p)) for p in paths[1:]])
        reference = read_person_image(Path(paths[0]))
        values.append(ssim(others, np.broadcast_to(reference, others.shape).copy()))
    return np.concatenate(values) if values else np.zeros(0)
