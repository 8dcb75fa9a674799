"""Pedestrian detectors that score how much each image looks like a person.

The filter stage discards a generated crop when no person is found in it
(thesis §5.1).  `load_detector(backend, **options)` returns an object whose
`scores(images)` maps uint8 RGB images (N, H, W, 3) to N confidences, higher
meaning more person-like; the threshold is chosen apart from the detector, on
the real training images (`reid.filters.calibration`).

Backends:
- ``hog``: OpenCV's built-in HOG + linear SVM people detector (Dalal & Triggs,
  trained on INRIA); it needs no file, so it is the offline default.
- ``yolov4-tiny``: the thesis detector, a Darknet cfg + weights run by
  cv2.dnn; both files are external artifacts (`dvc import-url`).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import cv2
import numpy as np

from reid.errors import ReidError

#: The size of a Market-1501 box; the HOG detector scans crops at this size.
CROP_HEIGHT, CROP_WIDTH = 128, 64


def _check_images(images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        shape = getattr(images, "shape", None)
        dtype = getattr(images, "dtype", type(images).__name__)
        raise ReidError(f"detector expects uint8 RGB images shaped (N, H, W, 3), got {dtype} {shape}")
    return images


class HogDetector:
    """OpenCV's default HOG people detector; the score is its best SVM margin over windows.

    Its 64x128 window was trained on INRIA crops showing a ~96-px person with a
    16-px margin, while a re-ID crop is filled by its person, which the window
    at the crop's own size mostly misses.  So each crop is brought to 128x64,
    padded on every side by `pad` times its size (edge pixels repeated: a
    constant border adds a strong false edge, a reflected one mirrors limbs
    into the margin, and both lowered real-crop scores), and scanned over a
    scale pyramid with steps of `scale_step` and a stride of `win_stride`
    pixels: the window sees the person from 128 px down to 128 / (1 + 2 pad)
    px tall (85 px at the default 0.25), with context around it.

    With no hit threshold every window reports its SVM margin, and the score
    is the largest one: a continuous, deterministic confidence for every image
    (0 is OpenCV's default detection threshold).  A flat image has no
    gradients and scores the SVM bias, -6.67; on the embedded synthetic
    training crops the 5% quantile is 1.7, while uniform noise stays under
    0.6.  HOG keeps the strongest gradient over the colour channels, so RGB
    input needs no conversion.
    """

    name = "hog"

    def __init__(self, pad: float = 0.25, win_stride: int = 4, scale_step: float = 1.05):
        if pad < 0:
            raise ReidError(f"hog detector: pad must be >= 0, got {pad}")
        if int(win_stride) != win_stride or win_stride < 1:
            raise ReidError(f"hog detector: win_stride must be a positive integer, got {win_stride}")
        if scale_step <= 1:
            raise ReidError(f"hog detector: scale_step must be > 1, got {scale_step}")
        self.pad_rows = round(pad * CROP_HEIGHT)
        self.pad_columns = round(pad * CROP_WIDTH)
        self.win_stride = (int(win_stride), int(win_stride))
        self.scale_step = float(scale_step)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def score(self, image: np.ndarray) -> float:
        """The largest SVM margin of any window over the padded crop's scale pyramid."""
        if image.shape[:2] != (CROP_HEIGHT, CROP_WIDTH):
            shrinking = image.shape[0] > CROP_HEIGHT
            image = cv2.resize(image, (CROP_WIDTH, CROP_HEIGHT),
                               interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        padded = cv2.copyMakeBorder(image, self.pad_rows, self.pad_rows, self.pad_columns, self.pad_columns,
                                    cv2.BORDER_REPLICATE)
        _, margins = self.hog.detectMultiScale(padded, hitThreshold=-np.inf, winStride=self.win_stride,
                                               padding=(0, 0), scale=self.scale_step, groupThreshold=0)
        return float(np.max(margins))

    def scores(self, images: np.ndarray) -> np.ndarray:
        return np.array([self.score(image) for image in _check_images(images)], dtype=np.float64)


#: A `thresh=...` line; OpenCV's [yolo] layer zeroes class confidences below it (default 0.2).
_THRESH_LINE = re.compile(r"^[ \t]*thresh[ \t]*=.*(\n|$)", re.MULTILINE)
_YOLO_SECTION = re.compile(r"^[ \t]*\[yolo\][ \t]*$", re.MULTILINE)


def _without_confidence_cutoff(cfg_text: str) -> str:
    """The cfg with `thresh=0` in every [yolo] section, so confidences under 0.2 are not zeroed."""
    return _YOLO_SECTION.sub("[yolo]\nthresh=0", _THRESH_LINE.sub("", cfg_text))


def _read_artifact(path: str | Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: yolov4-tiny {what} not found; import it with `dvc import-url <url> {path}`")
    return path.read_bytes()


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


class YoloDetector:
    """YOLOv4-tiny through cv2.dnn; the score is the highest person confidence of any box.

    OpenCV's [yolo] layer gives one row per anchor box, [cx, cy, w, h,
    objectness, class scores...], with each class score already multiplied by
    the objectness: column 5 + `person_class` is Darknet's detection
    confidence, the value the thesis thresholds at 0.6.  The layer would zero
    scores under its cfg `thresh` (0.2 by default); the cfg is loaded with
    `thresh=0` so that the calibration curve is continuous below 0.2.  No NMS:
    it only removes boxes that are not the most confident.

    Crops are resized to `input_size` squared without letterboxing, as in the
    thesis, and scaled to [0, 1]; Darknet expects RGB, which the input already
    is.  Images go through the network `batch_size` at a time.
    """

    name = "yolov4-tiny"

    def __init__(self, cfg: str | Path, weights: str | Path, input_size: int = 416, person_class: int = 0,
                 batch_size: int = 16):
        if input_size < 32 or input_size % 32:
            raise ReidError(f"yolov4-tiny detector: input_size must be a positive multiple of 32, got {input_size}")
        if batch_size < 1:
            raise ReidError(f"yolov4-tiny detector: batch_size must be >= 1, got {batch_size}")
        self.cfg = Path(cfg)
        cfg_text = _read_artifact(cfg, "cfg").decode("utf-8", errors="replace")
        weights_bytes = _read_artifact(weights, "weights")
        try:
            self.net = cv2.dnn.readNetFromDarknet(
                np.frombuffer(_without_confidence_cutoff(cfg_text).encode(), np.uint8),
                np.frombuffer(weights_bytes, np.uint8),
            )
        except cv2.error as exc:
            reason = _first_line(exc)
            raise ReidError(f"{cfg} with {weights}: OpenCV cannot load this Darknet network ({reason})") from None
        self.output_names = self.net.getUnconnectedOutLayersNames()
        self.input_size = int(input_size)
        self.person_class = int(person_class)
        self.batch_size = int(batch_size)

    def _batch_scores(self, images: np.ndarray) -> np.ndarray:
        blob = cv2.dnn.blobFromImages(list(images), scalefactor=1 / 255, size=(self.input_size, self.input_size),
                                      swapRB=False, crop=False)
        self.net.setInput(blob)
        try:
            outputs = self.net.forward(self.output_names)
        except cv2.error as exc:
            raise ReidError(f"{self.cfg}: OpenCV cannot run this network ({_first_line(exc)})") from None
        best = np.full(len(images), -np.inf)
        for output in outputs:
            rows = output.reshape(len(images), -1, output.shape[-1])
            if self.person_class >= rows.shape[-1] - 5:
                raise ReidError(f"{self.cfg}: person_class {self.person_class} but the network has "
                                f"{rows.shape[-1] - 5} classes")
            best = np.maximum(best, rows[:, :, 5 + self.person_class].max(axis=1))
        return best

    def scores(self, images: np.ndarray) -> np.ndarray:
        images = _check_images(images)
        batches = [self._batch_scores(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        return np.concatenate(batches).astype(np.float64) if batches else np.zeros(0)


BACKENDS = {HogDetector.name: HogDetector, YoloDetector.name: YoloDetector}


def load_detector(backend: str, **options):
    """The detector for `backend` with its options (params.yaml `filter.detector.hog` / `.yolo`), checked by name."""
    if backend not in BACKENDS:
        raise ReidError(f"unknown detector backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    parameters = inspect.signature(BACKENDS[backend]).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ReidError(f"{backend} detector: unknown option {unknown[0]!r}; valid options: {', '.join(parameters)}")
    missing = [name for name, p in parameters.items() if p.default is inspect.Parameter.empty and name not in options]
    if missing:
        raise ReidError(f"{backend} detector: missing option {missing[0]!r} (needs {', '.join(missing)})")
    return BACKENDS[backend](**options)
