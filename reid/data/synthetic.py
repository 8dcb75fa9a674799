"""The embedded default data set: a seeded, procedural Market-1501 look-alike.

Market-1501 cannot be downloaded everywhere, so the pipeline ships this
stand-in.  A person's identity is a fixed set of attributes drawn from
(seed, pid) only: clothing colours and patterns, body shape, skin, hair, bag,
hat, shoes.  Colours come from small shared palettes, so no single attribute
identifies anyone.  Six cameras each have their own background, illumination
and colour cast, so raw pixels are unreliable across cameras; per image the
walking pose, facing, scale, position, blur, compression and occlusion vary.

Every image draws its randomness from its own `np.random.SeedSequence`, so the
same config gives byte-identical files whatever the order of generation.
"""

from __future__ import annotations

import io
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from reid.device import usable_cores
from reid.errors import ReidError
from reid.io import atomic_dir
from reid.progress import progress_bar

CAMERAS = 6
TRAIN_DIR, QUERY_DIR, GALLERY_DIR = "bounding_box_train", "query", "bounding_box_test"
JUNK_PID, DISTRACTOR_PID = -1, 0
#: Drawing happens at this multiple of the output size; downsampling anti-aliases the edges.
SUPERSAMPLE = 2
#: Above this many images, rendering is spread over worker processes.
PARALLEL_MIN_IMAGES = 400

# First SeedSequence word of each random stream, so streams never collide.
_IDENTITY, _SCHEDULE, _CAMERA, _IMAGE, _DISTRACTOR, _JUNK = range(6)
_FOLDER_CODE = {TRAIN_DIR: 0, QUERY_DIR: 1, GALLERY_DIR: 2}

Color = tuple[int, int, int]

# (colour, weight).  Dark and neutral clothes dominate, as in real crowds, so
# many identities share each colour.
TOP_COLORS: list[tuple[Color, float]] = [
    ((28, 28, 32), 0.16), ((222, 222, 216), 0.11), ((125, 125, 128), 0.09), ((34, 44, 88), 0.09),
    ((52, 98, 182), 0.07), ((176, 34, 40), 0.07), ((48, 116, 60), 0.06), ((222, 190, 58), 0.05),
    ((222, 138, 168), 0.05), ((106, 58, 138), 0.04), ((108, 72, 44), 0.06), ((196, 176, 138), 0.06),
    ((222, 116, 40), 0.04), ((38, 136, 138), 0.05),
]
BOTTOM_COLORS: list[tuple[Color, float]] = [
    ((26, 26, 30), 0.26), ((58, 84, 128), 0.18), ((34, 40, 70), 0.12), ((112, 112, 116), 0.10),
    ((158, 138, 94), 0.08), ((196, 182, 150), 0.07), ((214, 214, 210), 0.06), ((98, 66, 42), 0.06),
    ((56, 76, 46), 0.04), ((150, 40, 46), 0.03),
]
SKIN_TONES: list[tuple[Color, float]] = [
    ((238, 204, 178), 0.3), ((222, 178, 142), 0.3), ((188, 138, 100), 0.2), ((138, 94, 64), 0.12),
    ((92, 62, 42), 0.08),
]
HAIR_COLORS: list[tuple[Color, float]] = [
    ((22, 18, 18), 0.45), ((58, 38, 24), 0.22), ((108, 72, 40), 0.12), ((196, 166, 108), 0.08),
    ((158, 156, 152), 0.08), ((136, 58, 30), 0.05),
]
SHOE_COLORS: list[tuple[Color, float]] = [
    ((24, 24, 24), 0.45), ((232, 232, 228), 0.25), ((110, 70, 40), 0.12), ((120, 120, 124), 0.1),
    ((40, 60, 140), 0.04), ((180, 40, 40), 0.04),
]
TOP_PATTERNS = {"solid": 0.45, "hstripes": 0.14, "checks": 0.08, "two_tone": 0.11, "print": 0.11, "open_jacket": 0.11}
BOTTOM_KINDS = {"trousers": 0.7, "shorts": 0.17, "skirt": 0.13}
BAG_KINDS = {"none": 0.4, "backpack": 0.3, "shoulder": 0.18, "handbag": 0.12}
FACINGS = ("front", "back", "left", "right")
BACKGROUNDS = ("tiles", "grass", "wall", "road", "indoor", "shopfront")
SCENE_GREY = np.array([128, 128, 124], np.float32)
SCENE_CONTRAST = (0.4, 0.6)


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate; the defaults give a Market-sized split in a few seconds."""

    seed: int = 0
    train_ids: int = 150
    test_ids: int = 150
    images_per_id: int = 12
    gallery_per_id: int = 10
    distractors: int = 200
    junk: int = 100
    height: int = 128
    width: int = 64
    jpeg_quality: int = 90

    def __post_init__(self):
        if self.seed < 0:
            raise ReidError(f"synthetic seed must be >= 0, got {self.seed}")
        if self.train_ids < 1 or self.test_ids < 1:
            raise ReidError("synthetic train_ids and test_ids must be >= 1")
        if self.train_ids + self.test_ids > 9999:
            raise ReidError("synthetic train_ids + test_ids must fit in 4-digit pids (<= 9999)")
        if self.images_per_id < 1:
            raise ReidError(f"synthetic images_per_id must be >= 1, got {self.images_per_id}")
        if self.gallery_per_id < 2:
            raise ReidError(
                f"synthetic gallery_per_id must be >= 2 (a match in another camera), got {self.gallery_per_id}"
            )
        if self.distractors < 0 or self.junk < 0:
            raise ReidError("synthetic distractors and junk must be >= 0")
        if self.height < 32 or self.width < 16:
            raise ReidError(f"synthetic images must be at least 32x16, got {self.height}x{self.width}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ReidError(f"synthetic jpeg_quality must be in 1-100, got {self.jpeg_quality}")


@dataclass(frozen=True)
class Identity:
    """Everything that stays the same about one person in every image."""

    skin: Color
    hair: Color
    long_hair: bool
    height: float
    width: float
    top: Color
    top_second: Color
    top_pattern: str
    stripe_period: float
    long_sleeves: bool
    bottom: Color
    bottom_kind: str
    shoes: Color
    bag_kind: str
    bag: Color
    bag_side: int  # +1 the person's right, -1 their left
    hat: Color | None


@dataclass(frozen=True, eq=False)
class Camera:
    """One camera's look: background, view bias and photometric response."""

    background: np.ndarray  # supersampled strip, wider and taller than a box
    facing_p: tuple[float, float, float, float]
    gain: float
    gamma: float
    cast: tuple[float, float, float]
    saturation: float
    black_level: float
    light_slope: float
    noise: float
    blur: float


@dataclass(frozen=True)
class Shot:
    """One image to render: where it goes and what it shows."""

    folder: str
    pid: int
    camera: int
    sequence: int
    frame: int
    box: int
    kind: str  # "person", "distractor" or "junk"
    index: int

    @property
    def name(self) -> str:
        pid = "-1" if self.pid == JUNK_PID else f"{self.pid:04d}"
        return f"{pid}_c{self.camera}s{self.sequence}_{self.frame:06d}_{self.box:02d}.jpg"


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


def _pick(rng: np.random.Generator, weighted) -> object:
    """Draw from a {value: weight} dict or a [(value, weight)] list."""
    items = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    weights = np.array([w for _, w in items], dtype=float)
    return items[rng.choice(len(items), p=weights / weights.sum())][0]


def _jitter(rng: np.random.Generator, color: Color, spread: float) -> Color:
    """A personal shade of a palette colour: shared enough to confuse, distinct enough to learn."""
    return tuple(int(np.clip(c + rng.normal(0, spread), 0, 255)) for c in color)


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(min(255, c * factor)) for c in color)


def random_identity(rng: np.random.Generator) -> Identity:
    """Draw a person; used for identities, distractors and passers-by alike."""
    top = _pick(rng, TOP_COLORS)
    second = top
    while second == top:
        second = _pick(rng, TOP_COLORS)
    bottom_kind = _pick(rng, BOTTOM_KINDS)
    return Identity(
        skin=_jitter(rng, _pick(rng, SKIN_TONES), 6),
        hair=_jitter(rng, _pick(rng, HAIR_COLORS), 6),
        long_hair=bool(rng.random() < (0.6 if bottom_kind == "skirt" else 0.25)),
        height=float(rng.uniform(0.9, 1.0)),
        width=float(rng.uniform(0.95, 1.3)),
        top=_jitter(rng, top, 9),
        top_second=_jitter(rng, second, 9),
        top_pattern=_pick(rng, TOP_PATTERNS),
        stripe_period=float(rng.uniform(0.035, 0.07)),
        long_sleeves=bool(rng.random() < 0.6),
        bottom=_jitter(rng, _pick(rng, BOTTOM_COLORS), 7),
        bottom_kind=bottom_kind,
        shoes=_jitter(rng, _pick(rng, SHOE_COLORS), 6),
        bag_kind=_pick(rng, BAG_KINDS),
        bag=_jitter(rng, _pick(rng, TOP_COLORS), 9),
        bag_side=int(rng.choice([-1, 1])),
        hat=_jitter(rng, _pick(rng, TOP_COLORS), 9) if rng.random() < 0.12 else None,
    )


@lru_cache(maxsize=4096)
def identity(seed: int, pid: int) -> Identity:
    """The attributes of person `pid`; they depend on (seed, pid) only."""
    return random_identity(_rng(seed, _IDENTITY, pid))


# ----------------------------------------------------------------------------- backgrounds


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Blobby noise in [-1, 1]: a coarse random grid upsampled smoothly."""
    grid = rng.uniform(-1, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _fill(h: int, w: int, color) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, np.float32), (h, w, 3)).copy()


def _paving(rng: np.random.Generator, h: int, w: int, base, tile_w: int, tile_h: int, jitter: float,
            joint_color=None) -> np.ndarray:
    """Staggered slabs (or bricks) with joints, darker unless `joint_color` is given."""
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // tile_h
    shifted = xx + (row % 2) * (tile_w // 2)
    col = shifted // tile_w
    tone = rng.normal(0, jitter, (row.max() + 1, col.max() + 1)).astype(np.float32)
    img = _fill(h, w, base) + tone[row, col][..., None]
    joint = (yy % tile_h < 2) | (shifted % tile_w < 2)
    if joint_color is None:
        img[joint] *= 0.72
    else:
        img[joint] = joint_color
    return img


def _background_strip(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A camera's scene as a strip of `h` x `w`; each image crops its own window from it."""
    u = h / 256  # sizes below were tuned for a 256-pixel-high canvas
    if kind == "tiles":
        base = np.array([(150, 148, 142), (172, 152, 132), (138, 116, 108), (118, 124, 132)][rng.integers(4)])
        img = _paving(rng, h, w, base, int(rng.integers(34, 52) * u), int(rng.integers(16, 26) * u), 10)
        img += _smooth_noise(rng, h, w, int(40 * u))[..., None] * 14
    elif kind == "grass":
        img = _fill(h, w, rng.uniform([60, 105, 40], [85, 135, 60]))
        img += _smooth_noise(rng, h, w, int(24 * u))[..., None] * np.array([18, 30, 12])
        img += rng.normal(0, 9, (h, w, 1)) * np.array([0.6, 1.0, 0.5])
        top = int(rng.uniform(0.15, 0.35) * h)  # a gravel path behind the lawn
        img[:top] = _fill(top, w, (150, 138, 112)) + rng.normal(0, 12, (top, w, 1))
        img[top - max(1, int(3 * u)) : top] = (90, 86, 70)
    elif kind == "wall":
        split = int(rng.uniform(0.45, 0.65) * h)
        brick = np.array([(150, 70, 52), (168, 112, 80), (120, 64, 56)][rng.integers(3)])
        img = _paving(rng, h, w, (150, 150, 148), int(48 * u), int(30 * u), 6)
        img[:split] = _paving(rng, split, w, brick, int(30 * u), int(12 * u), 14, joint_color=(196, 190, 178))
        img[split : split + max(2, int(6 * u))] = (90, 88, 86)
    elif kind == "road":
        img = _fill(h, w, rng.uniform([62, 62, 66], [84, 84, 90])) + rng.normal(0, 8, (h, w, 1))
        img += _smooth_noise(rng, h, w, int(30 * u))[..., None] * 8
        curb = int(rng.uniform(0.18, 0.3) * h)
        img[:curb] = _paving(rng, curb, w, (160, 158, 150), int(40 * u), int(20 * u), 8)
        img[curb : curb + max(2, int(8 * u))] = (196, 196, 190)
        lane = int(rng.uniform(0.55, 0.8) * h)
        dash, gap = int(rng.integers(60, 90) * u), int(rng.integers(40, 60) * u)
        thick = max(2, int(7 * u))
        for x in range(int(rng.integers(0, dash + gap)) - dash - gap, w, dash + gap):
            img[lane : lane + thick, max(0, x) : max(0, x + dash)] = (222, 222, 214)
        img[int(0.92 * h) : int(0.92 * h) + thick] = (214, 176, 40)
    elif kind == "indoor":
        wall_h = int(rng.uniform(0.2, 0.35) * h)
        floor = np.array([(206, 194, 170), (182, 182, 186), (196, 176, 150)][rng.integers(3)])
        img = _paving(rng, h, w, floor, int(70 * u), int(34 * u), 5)
        gloss = np.exp(-(((np.arange(w) - rng.uniform(0, w)) / (0.2 * w)) ** 2)).astype(np.float32)
        img += gloss[None, :, None] * 28
        img[:wall_h] = _fill(wall_h, w, rng.uniform([170, 170, 160], [230, 220, 200]))
        img[wall_h - max(2, int(8 * u)) : wall_h] = (70, 60, 52)
        for x in rng.integers(0, w, 2):  # doors
            img[: wall_h - int(8 * u), x : x + int(60 * u)] = (120, 96, 72)
    else:  # shopfront
        split = int(rng.uniform(0.45, 0.65) * h)
        img = _paving(rng, h, w, (146, 142, 136), int(56 * u), int(26 * u), 7)
        glass = _fill(split, w, rng.uniform([40, 50, 60], [80, 90, 110]))
        yy, xx = np.mgrid[0:split, 0:w]
        glass += (np.sin((xx + yy) * 0.04 / u) > 0.7)[..., None] * 30  # reflections
        frame = int(rng.integers(50, 90) * u)
        glass[(xx % frame) < max(2, int(6 * u))] = (34, 34, 36)
        glass[: max(2, int(10 * u))] = (34, 34, 36)
        img[:split] = glass
        img[split - max(2, int(6 * u)) : split] = (190, 190, 186)
    if kind in ("tiles", "road", "shopfront", "grass"):
        _add_street_furniture(rng, img, u)
    # Muted like most of Market's pavement: a loud scene would let the camera, not the person, dominate the pixels.
    img = SCENE_GREY + (img - SCENE_GREY) * rng.uniform(*SCENE_CONTRAST)
    return np.clip(img, 0, 255).astype(np.uint8)


def _add_street_furniture(rng: np.random.Generator, img: np.ndarray, u: float) -> None:
    """Bins and bollards: fixed clutter that a crop window sometimes catches."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        bw, bh = int(rng.uniform(14, 30) * u), int(rng.uniform(40, 80) * u)
        x, base = int(rng.integers(0, w - bw)), int(rng.uniform(0.35, 0.6) * h)
        color = np.array([(40, 70, 50), (60, 60, 64), (150, 150, 150)][rng.integers(3)])
        img[base - bh : base, x : x + bw] = color
        img[base - bh : base - bh + max(2, int(5 * u)), x : x + bw] = color * 0.6


@lru_cache(maxsize=64)
def camera(seed: int, camid: int, height: int, width: int) -> Camera:
    """Camera `camid`'s scene and response; it depends on (seed, camid) only."""
    rng = _rng(seed, _CAMERA, camid)
    kinds = list(BACKGROUNDS)
    _rng(seed, _CAMERA, 0).shuffle(kinds)  # stream 0 (no camera) deals one scene to each camera
    h, w = SUPERSAMPLE * height, SUPERSAMPLE * width
    strip = _background_strip(kinds[camid - 1], rng, h + h // 4, 4 * w)
    view = rng.dirichlet([1.5, 1.5, 1.5])  # front / back / side bias of this viewpoint
    cast = rng.uniform(0.88, 1.12, 3)
    return Camera(
        background=strip,
        facing_p=(float(view[0]), float(view[1]), float(view[2] / 2), float(view[2] / 2)),
        gain=float(rng.uniform(0.86, 1.14)),
        gamma=float(rng.uniform(0.88, 1.15)),
        cast=tuple(float(c) for c in cast / cast.mean() * rng.uniform(0.97, 1.03)),
        saturation=float(rng.uniform(0.8, 1.1)),
        black_level=float(rng.uniform(0.0, 0.05)),
        light_slope=float(rng.uniform(-0.12, 0.12)),
        noise=float(rng.uniform(1.5, 5.0)),
        blur=float(rng.uniform(0.3, 0.9)),
    )


# ----------------------------------------------------------------------------- people


@dataclass(frozen=True)
class _Frame:
    """Maps body coordinates (units of body height, origin at the top of the head) to pixels."""

    cx: float
    top: float
    h: float

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        return (self.cx + x * self.h, self.top + y * self.h)


def _limb(draw: ImageDraw.ImageDraw, f: _Frame, p0, p1, w0: float, w1: float, color: Color) -> None:
    """A tapered segment with a rounded end, in body coordinates."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    n = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / n, dx / n
    quad = [
        (p0[0] + nx * w0 / 2, p0[1] + ny * w0 / 2), (p1[0] + nx * w1 / 2, p1[1] + ny * w1 / 2),
        (p1[0] - nx * w1 / 2, p1[1] - ny * w1 / 2), (p0[0] - nx * w0 / 2, p0[1] - ny * w0 / 2),
    ]
    draw.polygon([f(*p) for p in quad], fill=color)
    _disc(draw, f, p1, w1 / 2, color)


def _disc(draw: ImageDraw.ImageDraw, f: _Frame, c, r: float, color: Color, ry: float | None = None) -> None:
    x, y = f(*c)
    rx, ry_px = r * f.h, (ry if ry is not None else r) * f.h
    draw.ellipse([x - rx, y - ry_px, x + rx, y + ry_px], fill=color)


def _band(rows, y0: float, y1: float, x0: float = -9.0, x1: float = 9.0) -> list[tuple[float, float]] | None:
    """The part of a shape given as (y, left, right) rows that lies in [y0, y1] x [x0, x1]."""

    def edges(y):
        ys = [r[0] for r in rows]
        return float(np.interp(y, ys, [r[1] for r in rows])), float(np.interp(y, ys, [r[2] for r in rows]))

    ys = [y0] + [r[0] for r in rows if y0 < r[0] < y1] + [y1]
    left, right = [], []
    for y in ys:
        lo, hi = edges(y)
        lo, hi = max(lo, x0), min(hi, x1)
        if hi <= lo:
            return None
        left.append((lo, y))
        right.append((hi, y))
    return left + right[::-1]


def draw_person(draw: ImageDraw.ImageDraw, person: Identity, cx: float, foot_y: float, height: float,
                facing: str, phase: float, stride: float) -> None:
    """Draw a walking pedestrian whose feet touch (cx, foot_y); `draw` must blend RGBA (for the shadow)."""
    h = height * person.height
    f = _Frame(cx, foot_y - h, h)
    w = person.width
    side = facing in ("left", "right")
    d = 1 if facing == "right" else -1  # direction of travel in side view
    far = 0.72  # far limbs are in shadow
    arm_color = person.top if person.long_sleeves else person.skin
    leg_color = person.bottom if person.bottom_kind == "trousers" else person.skin
    # Bags on the person's right (+1) show on the image's left from the front, right from the back.
    bag_x = {"front": -person.bag_side, "back": person.bag_side}.get(facing, 0)
    near_bag = side and person.bag_side == d

    if side:
        torso = [(0.16, -0.06 * w, 0.065 * w), (0.3, -0.07 * w, 0.078 * w), (0.5, -0.062 * w, 0.06 * w)]
        torso = [(y, l, r) if d == 1 else (y, -r, -l) for y, l, r in torso]
    else:
        sw, hw = 0.118 * w, 0.098 * w
        torso = [(0.16, -sw + 0.03, sw - 0.03), (0.19, -sw, sw), (0.33, -0.9 * sw, 0.9 * sw), (0.5, -hw, hw)]

    def arm(sign: int, swing: float, dim: float) -> tuple[float, float]:
        """Draw one arm; returns the hand position for a carried bag."""
        if side:
            shoulder = (0.0, 0.19)
            elbow = (shoulder[0] + d * math.sin(swing) * 0.16, shoulder[1] + math.cos(swing) * 0.16)
            fore = swing + 0.3
            hand = (elbow[0] + d * math.sin(fore) * 0.15, elbow[1] + math.cos(fore) * 0.15)
        else:
            shorten = 1 - 0.18 * abs(math.sin(swing))
            shoulder = (sign * (0.118 * w - 0.022), 0.19)
            elbow = (shoulder[0] + sign * 0.018, shoulder[1] + 0.16 * shorten)
            hand = (elbow[0] + sign * 0.006, elbow[1] + 0.15 * shorten)
        upper_end = elbow if person.long_sleeves else (
            (shoulder[0] + elbow[0]) / 2, (shoulder[1] + elbow[1]) / 2)
        _limb(draw, f, shoulder, elbow, 0.062, 0.052, _shade(arm_color, dim))
        _limb(draw, f, shoulder, upper_end, 0.068, 0.058, _shade(person.top, dim))
        _limb(draw, f, elbow, hand, 0.052, 0.042, _shade(arm_color, dim))
        _disc(draw, f, hand, 0.022, _shade(person.skin, dim))
        return hand

    def leg(sign: int, angle: float, bend: float, dim: float) -> None:
        if side:
            hip = (0.0, 0.5)
            knee = (d * math.sin(angle) * 0.23, hip[1] + math.cos(angle) * 0.23)
            ankle = (knee[0] + d * math.sin(angle - bend) * 0.23, knee[1] + math.cos(angle - bend) * 0.23)
        else:
            lift = 0.06 * max(0.0, angle)  # a leg swinging towards the camera looks shorter
            hip = (sign * 0.05 * w, 0.5)
            knee = (sign * 0.055 * w, 0.72 - lift)
            ankle = (sign * 0.058 * w, 0.955 - 1.6 * lift)
        color = _shade(leg_color, dim)
        _limb(draw, f, hip, knee, 0.1 * w, 0.072, color)
        _limb(draw, f, knee, ankle, 0.072, 0.052, color)
        if person.bottom_kind == "shorts":
            mid = (hip[0] * 0.4 + knee[0] * 0.6, hip[1] * 0.4 + knee[1] * 0.6)
            _limb(draw, f, hip, mid, 0.095 * w, 0.08, _shade(person.bottom, dim))
        shoe_len = 0.045 if side else 0.03
        toe = (ankle[0] + (d * 0.02 if side else 0), ankle[1] + 0.02)
        _disc(draw, f, toe, shoe_len, _shade(person.shoes, dim), 0.022)

    def backpack_body(x0: float, x1: float) -> None:
        draw.rounded_rectangle([*f(min(x0, x1), 0.19), *f(max(x0, x1), 0.42)], radius=0.03 * h, fill=person.bag)
        draw.line([f(x0 + 0.01, 0.27), f(x1 - 0.01, 0.27)], fill=_shade(person.bag, 0.7), width=max(1, int(0.01 * h)))

    def carried_bag(hand, dim: float) -> None:
        draw.rectangle([*f(hand[0] - 0.045, hand[1] + 0.01), *f(hand[0] + 0.045, hand[1] + 0.09)],
                       fill=_shade(person.bag, dim))

    def shoulder_bag(x: float, dim: float) -> None:
        draw.rounded_rectangle([*f(x - 0.05, 0.42), *f(x + 0.05, 0.54)], radius=0.015 * h, fill=_shade(person.bag, dim))

    x, y = f(0.0, 1.0)
    draw.ellipse([x - 0.16 * h, y - 0.02 * h, x + 0.16 * h, y + 0.02 * h], fill=(0, 0, 0, 70))
    swing = 0.5 * stride * math.sin(phase)
    # --- far side and behind the body
    if side:
        far_hand = arm(-d, swing, far)
        if person.bag_kind == "handbag" and not near_bag:
            carried_bag(far_hand, far)
        leg(-d, -swing, 0.6 * stride * max(0.0, -math.cos(phase)), far)
        if person.bag_kind == "backpack":
            backpack_body(-d * 0.16, -d * 0.03)
        if person.bag_kind == "shoulder" and not near_bag:
            shoulder_bag(-d * 0.05, far)
    if person.long_hair and facing != "back":
        _disc(draw, f, (-d * 0.02 if side else 0.0, 0.12), 0.058, person.hair, 0.09)
    for sign in ((-1, 1) if not side else ()):
        leg(sign, sign * swing, 0.0, 1.0)
    if side:
        leg(d, swing, 0.6 * stride * max(0.0, math.cos(phase)), 1.0)
    # --- hips and torso
    hip = (0.065 if side else 0.1) * w
    draw.rectangle([*f(-hip, 0.47), *f(hip, 0.57)], fill=person.bottom)
    if person.bottom_kind == "skirt":
        hem = (0.09 if side else 0.13) * w
        draw.polygon([f(-hip, 0.47), f(hip, 0.47), f(hem, 0.7), f(-hem, 0.7)], fill=person.bottom)
    draw.polygon([f(*p) for p in _band(torso, 0.16, 0.5)], fill=person.top)
    _draw_top_pattern(draw, f, person, torso, facing)
    # --- arms and bags in front
    hands = {}
    for sign in ((-1, 1) if not side else ()):
        hands[sign] = arm(sign, swing * sign, 1.0)
    if side:
        hands[d] = arm(d, -swing, 1.0)
    strap = max(1, int(0.016 * h))
    if person.bag_kind == "backpack":
        if facing == "back":
            backpack_body(-0.085, 0.085)
        elif facing == "front":
            for sign in (-1, 1):
                draw.line([f(sign * 0.06 * w, 0.17), f(sign * 0.075 * w, 0.36)], fill=person.bag, width=strap)
        else:
            draw.line([f(d * 0.02, 0.17), f(-d * 0.03, 0.4)], fill=person.bag, width=strap)
    elif person.bag_kind == "shoulder" and (not side or near_bag):
        x = bag_x * 0.14 * w if not side else -d * 0.01
        draw.line([f(-x * 0.5, 0.17), f(x, 0.43)], fill=_shade(person.bag, 0.8), width=max(1, int(0.012 * h)))
        shoulder_bag(x, 1.0)
    elif person.bag_kind == "handbag" and (not side or near_bag):
        carried_bag(hands[bag_x] if not side else hands[d], 1.0)
    # --- neck and head
    _limb(draw, f, (0.0, 0.11), (0.0, 0.165), 0.045, 0.045, _shade(person.skin, 0.9))
    head = (d * 0.006 if side else 0.0, 0.068)
    _disc(draw, f, head, 0.05 if not side else 0.054, person.hair, 0.066)
    if facing == "front":
        _disc(draw, f, (0.0, 0.078), 0.044, person.skin, 0.056)
    elif side:
        _disc(draw, f, (d * 0.018, 0.08), 0.038, person.skin, 0.052)
    if person.long_hair and facing == "back":
        draw.polygon([f(-0.055, 0.07), f(0.055, 0.07), f(0.06, 0.24), f(-0.06, 0.24)], fill=person.hair)
    if person.hat is not None:
        x, y = f(*head)
        draw.chord([x - 0.056 * h, y - 0.072 * h, x + 0.056 * h, y + 0.03 * h], 180, 360, fill=person.hat)
        brim_x = head[0] + (0.035 * d if side else 0.0)
        _disc(draw, f, (brim_x, 0.058), 0.04 if side else 0.058, _shade(person.hat, 0.8), 0.01)


def _draw_top_pattern(draw: ImageDraw.ImageDraw, f: _Frame, person: Identity, torso, facing: str) -> None:
    """Patterns are part of the identity; prints and open jackets only show from the front."""
    second, period = person.top_second, person.stripe_period
    pattern = person.top_pattern
    if pattern in ("hstripes", "checks"):
        y = 0.2
        while y < 0.5:
            band = _band(torso, y, min(y + period / 2, 0.5))
            if band:
                draw.polygon([f(*p) for p in band], fill=second)
            y += period
    if pattern == "checks":
        mixed = tuple((a + b) // 2 for a, b in zip(person.top, second))
        x = -0.2
        while x < 0.2:
            band = _band(torso, 0.16, 0.5, x, x + period / 2)
            if band:
                draw.polygon([f(*p) for p in band], fill=mixed)
            x += period
    elif pattern == "two_tone":
        band = _band(torso, 0.16, 0.27)
        draw.polygon([f(*p) for p in band], fill=second)
    elif pattern == "print" and facing == "front":
        draw.rectangle([*f(-0.04, 0.24), *f(0.04, 0.32)], fill=second)
    elif pattern == "open_jacket" and facing == "front":
        draw.polygon([f(-0.035, 0.165), f(0.035, 0.165), f(0.045, 0.5), f(-0.045, 0.5)], fill=second)


# ----------------------------------------------------------------------------- images


def _draw_pole(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    pw = rng.uniform(0.06, 0.14) * w
    x = rng.uniform(-0.1, 0.9) * w
    color = [(70, 72, 76), (40, 70, 50), (150, 150, 150), (110, 60, 40)][rng.integers(4)]
    draw.rectangle([x, 0, x + pw, h], fill=color)
    draw.rectangle([x + 0.2 * pw, 0, x + 0.35 * pw, h], fill=_shade(color, 1.4))


def _draw_car(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """The edge of a parked car entering the box from a bottom corner."""
    color = _pick(rng, TOP_COLORS)
    left = rng.random() < 0.5
    cw, top = rng.uniform(0.35, 0.6) * w, rng.uniform(0.6, 0.75) * h
    x0, x1 = (-w, cw) if left else (w - cw, 2 * w)
    draw.rounded_rectangle([x0, top, x1, h * 1.1], radius=0.06 * h, fill=color)
    draw.rectangle([x0, top + 0.03 * h, x1, top + 0.1 * h], fill=(40, 48, 58))
    wheel = cw * 0.55 if left else w - cw * 0.55
    draw.ellipse([wheel - 0.09 * h, h * 0.92, wheel + 0.09 * h, h * 1.1], fill=(20, 20, 20))


def _draw_passerby(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, scale: float) -> None:
    """Another pedestrian mostly outside the box, as crowded detections have."""
    other = random_identity(rng)
    cx = w * (0.5 + rng.choice([-1, 1]) * rng.uniform(0.55, 0.85))
    draw_person(draw, other, cx, h * rng.uniform(0.95, 1.05), scale * h, FACINGS[rng.integers(4)],
                rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 1.0))


def _scene(rng: np.random.Generator, cam: Camera, w: int, h: int) -> Image.Image:
    """A random window of the camera's background strip."""
    strip = cam.background
    y = int(rng.integers(0, strip.shape[0] - h + 1))
    x = int(rng.integers(0, strip.shape[1] - w + 1))
    window = strip[y : y + h, x : x + w]
    return Image.fromarray(np.ascontiguousarray(window[:, ::-1] if rng.random() < 0.5 else window))


def _compose(shot: Shot, config: SyntheticConfig, rng: np.random.Generator) -> Image.Image:
    """Draw the supersampled picture of one shot: scene, subject, clutter, occluders."""
    h, w = SUPERSAMPLE * config.height, SUPERSAMPLE * config.width
    cam = camera(config.seed, shot.camera, config.height, config.width)
    img = _scene(rng, cam, w, h)
    draw = ImageDraw.Draw(img, "RGBA")  # RGBA lets shadows blend into the scene
    if rng.random() < 0.25:
        _draw_passerby(draw, rng, w, h, rng.uniform(0.6, 0.85))
    if shot.kind == "person":
        person = identity(config.seed, shot.pid)
        scale, cx, foot = rng.uniform(0.8, 0.95), rng.normal(0.5, 0.05), rng.uniform(0.95, 0.995)
    elif shot.kind == "distractor":
        person = random_identity(_rng(config.seed, _DISTRACTOR, shot.index))
        scale, cx, foot = rng.uniform(0.65, 1.0), rng.normal(0.5, 0.12), rng.uniform(0.9, 1.05)
    else:
        person = random_identity(rng)
        scale, cx, foot = [(2.0, 0.5, 1.6), (0.9, 0.95, 1.0), (0.35, 0.5, 0.7), (0.0, 0.5, 1.0)][rng.integers(4)]
        scale, cx, foot = scale * rng.uniform(0.85, 1.2), cx + rng.normal(0, 0.1), foot * rng.uniform(0.9, 1.1)
    if scale > 0:
        facing = FACINGS[rng.choice(4, p=np.array(cam.facing_p))]
        phase, stride = rng.uniform(0, 2 * math.pi), rng.uniform(0.3, 1.0)
        draw_person(draw, person, cx * w, foot * h, scale * h, facing, phase, stride)
    occluder = rng.random()
    if occluder < 0.1:
        _draw_passerby(draw, rng, w, h, rng.uniform(0.85, 1.0))
    elif occluder < 0.18:
        _draw_pole(draw, rng, w, h)
    elif occluder < 0.25:
        _draw_car(draw, rng, w, h)
    return img


def _photograph(img: Image.Image, cam: Camera, rng: np.random.Generator) -> np.ndarray:
    """Apply the camera's optics and sensor: blur, light, cast, noise (uint8 RGB)."""
    x = np.asarray(img, dtype=np.float32) / 255.0
    sigma = cam.blur * rng.uniform(0.6, 1.6)
    x = cv2.GaussianBlur(x, (0, 0), sigma)
    if rng.random() < 0.12:  # motion blur of a fast walker
        k = int(rng.integers(3, 6))
        x = cv2.blur(x, (k, 1))
    h, w = x.shape[:2]
    light = 1 + cam.light_slope * np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    x = x * light * (cam.gain * rng.uniform(0.85, 1.15)) * np.asarray(cam.cast, np.float32)
    x = np.clip(x, 0, 1) ** (cam.gamma * rng.uniform(0.92, 1.08))
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * cam.saturation
    x = cam.black_level + (1 - cam.black_level) * x
    x = x + rng.normal(0, cam.noise / 255, x.shape).astype(np.float32)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def render(shot: Shot, config: SyntheticConfig) -> bytes:
    """The JPEG bytes of one shot; a pure function of (config, shot)."""
    rng = _rng(config.seed, _IMAGE, _FOLDER_CODE[shot.folder], shot.pid + 1, shot.camera, shot.index)
    img = _compose(shot, config, rng)
    pixels = _photograph(img.reduce(SUPERSAMPLE), camera(config.seed, shot.camera, config.height, config.width), rng)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=int(rng.integers(35, 90)))
    degraded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    degraded.save(out, format="JPEG", quality=config.jpeg_quality)
    return out.getvalue()


# ----------------------------------------------------------------------------- schedule


def _split_over_cameras(rng: np.random.Generator, total: int, cams: int) -> list[int]:
    """Spread `total` images over `cams` cameras, at least one each."""
    return (1 + rng.multinomial(total - cams, np.full(cams, 1 / cams))).tolist()


def _visit(rng: np.random.Generator, count: int) -> tuple[int, list[int]]:
    """A pass of one person through one camera: a sequence and `count` increasing frames."""
    start = int(rng.integers(0, 900_000))
    steps = np.cumsum(rng.integers(4, 60, count))
    return int(rng.integers(1, 7)), [min(999_999, start + int(s)) for s in steps]


def plan(config: SyntheticConfig) -> list[Shot]:
    """Every shot of the data set, in a fixed order, with unique file names."""
    shots: list[Shot] = []
    seed = config.seed
    for pid in range(1, config.train_ids + 1):
        rng = _rng(seed, _SCHEDULE, pid)
        n_cams = min(int(rng.integers(2, CAMERAS + 1)), config.images_per_id)
        cams = sorted(int(c) + 1 for c in rng.choice(CAMERAS, n_cams, replace=False))
        index = 0
        for cam, count in zip(cams, _split_over_cameras(rng, config.images_per_id, n_cams)):
            sequence, frames = _visit(rng, count)
            for frame in frames:
                shots.append(Shot(TRAIN_DIR, pid, cam, sequence, frame, 1, "person", index))
                index += 1
    for pid in range(config.train_ids + 1, config.train_ids + config.test_ids + 1):
        rng = _rng(seed, _SCHEDULE, pid)
        n_cams = min(int(rng.choice([2, 3, 4, 5], p=[0.1, 0.2, 0.3, 0.4])), config.gallery_per_id)
        cams = sorted(int(c) + 1 for c in rng.choice(CAMERAS, n_cams, replace=False))
        index = 0
        for cam, count in zip(cams, _split_over_cameras(rng, config.gallery_per_id, n_cams)):
            sequence, frames = _visit(rng, count + 1)
            query_at = int(rng.integers(0, count + 1))
            for i, frame in enumerate(frames):
                folder = QUERY_DIR if i == query_at else GALLERY_DIR
                shots.append(Shot(folder, pid, cam, sequence, frame, 1, "person", index))
                index += 1
    for kind, pid, stream, count in (("distractor", DISTRACTOR_PID, _DISTRACTOR, config.distractors),
                                     ("junk", JUNK_PID, _JUNK, config.junk)):
        for index in range(count):
            rng = _rng(seed, _SCHEDULE, stream, index)
            cam = int(rng.integers(1, CAMERAS + 1))
            sequence, (frame,) = _visit(rng, 1)
            shots.append(Shot(GALLERY_DIR, pid, cam, sequence, frame, int(rng.integers(1, 4)), kind, index))
    return _unique_names(shots)


def _unique_names(shots: list[Shot]) -> list[Shot]:
    """Resolve name clashes the way a detector would: another box in the same frame."""
    taken: set[str] = set()
    unique = []
    for shot in shots:
        while shot.name in taken:
            if shot.box == 99:
                raise ReidError(f"synthetic: cannot make a unique name for {shot.name}")
            shot = replace(shot, box=shot.box + 1)
        taken.add(shot.name)
        unique.append(shot)
    return unique


# ----------------------------------------------------------------------------- writing


def _render_batch(args: tuple[list[Shot], SyntheticConfig, str]) -> int:
    shots, config, out_dir = args
    for shot in shots:
        Path(out_dir, shot.folder, shot.name).write_bytes(render(shot, config))
    return len(shots)


def _summary(shots: list[Shot], root: Path, config: SyntheticConfig) -> dict:
    def split(folder: str) -> dict:
        mine = [s for s in shots if s.folder == folder]
        people = [s for s in mine if s.kind == "person"]
        return {
            "images": len(mine),
            "ids": len({s.pid for s in people}),
            "cameras": sorted({s.camera for s in mine}),
        }

    gallery = split(GALLERY_DIR)
    gallery["distractors"] = config.distractors
    gallery["junk"] = config.junk
    return {
        "root": str(root), "seed": config.seed,
        "train": split(TRAIN_DIR), "query": split(QUERY_DIR), "gallery": gallery,
    }


def write_synthetic_market(root: str | os.PathLike, config: SyntheticConfig, progress: bool = True) -> dict:
    """Write the synthetic data set in the Market-1501 layout under `root`; return counts.

    `root` must be missing, empty or a folder this project wrote (`atomic_dir`).
    The folder appears whole or not at all, so an interrupted run never looks
    like a finished data set.
    """
    root = Path(root)
    shots = plan(config)
    workers = min(usable_cores(), 8) if len(shots) >= PARALLEL_MIN_IMAGES else 1
    bar = progress_bar(total=len(shots), desc="synthetic market", unit="img", disable=not progress)
    with atomic_dir(root) as tmp, bar:
        for folder in _FOLDER_CODE:
            (tmp / folder).mkdir()
        batches = [(shots[i : i + 64], config, str(tmp)) for i in range(0, len(shots), 64)]
        if workers == 1:
            for batch in batches:
                bar.update(_render_batch(batch))
        else:
            with ProcessPoolExecutor(workers) as pool:
                for done in pool.map(_render_batch, batches):
                    bar.update(done)
    return _summary(shots, root, config)
