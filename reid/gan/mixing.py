"""Artificial persons from a trained generator: a seed per person, variations by style mixing.

Thesis §4.1 / §5.1 (Table 5.3): a seed gives the person's latent z and so
its w; the person's other images copy another seed's w into one *layer group*
of the 16 ws (coarse 0-5 changes the figure, middle 5-11 the pose, fine 12-15
colours and light) or interpolate all ws part of the way towards another
seed's w. The first image of every person is its seed image, the reference of
the SSIM filter.

Everything random is drawn from seeds, per person, so a person's images do
not depend on how many persons are generated and the same params give the
same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from reid.data.generated import MANIFEST_COLUMNS, SEED_GROUP
from reid.data.shards import ImageWriter, shard_addresses
from reid.errors import ReidError
from reid.gan.generator import Generator
from reid.gan.sampling import to_person
from reid.progress import progress_bar

INTERPOLATE = "interpolate"


def default_layer_groups() -> dict:
    return {"coarse": [0, 1, 2, 3, 4, 5], "middle": [5, 6, 7, 8, 9, 10, 11], "fine": [12, 13, 14, 15]}


def default_shares() -> dict:
    return {"middle": 0.5, "fine": 0.3, INTERPOLATE: 0.2}


@dataclass(frozen=True)
class GenerationConfig:
    """params.yaml `gen:` section (thesis: 401 persons x 51 images)."""

    persons: int = 401
    images_per_person: int = 51
    seed: int = 0                      # person p is seed `seed + p`, as StyleGAN3's `gen_images.py --seeds`
    truncation_psi: float = 1.0
    layers: dict[str, list[int]] = field(default_factory=default_layer_groups)
    shares: dict[str, float] = field(default_factory=default_shares)
    interpolation: float = 0.5         # an interpolated image moves up to this fraction towards the other w
    cameras: int = 6                   # camera ids 1..cameras, cycled over a person's images
    jpeg_quality: int = 95
    grid_persons: int = 8              # rows of the seed + variations sheet (thesis Fig 5.6)

    def __post_init__(self):
        if self.persons < 1 or self.images_per_person < 1:
            raise ReidError("params: gen.persons and gen.images_per_person must be >= 1")
        if not 1 <= self.cameras <= 9:
            raise ReidError(f"params: gen.cameras must be 1..9 (one digit in Market names), got {self.cameras}")
        if self.grid_persons < 0:
            raise ReidError("params: gen.grid_persons must be >= 0")
        if not 0 <= self.interpolation <= 1:
            raise ReidError(f"params: gen.interpolation must be in [0, 1], got {self.interpolation}")
        for name, layers in self.layers.items():
            if name in (SEED_GROUP, INTERPOLATE) or not layers or not all(isinstance(i, int) for i in layers):
                raise ReidError(f"params: gen.layers.{name} must be a non-empty list of layer indices")
        for name, share in self.shares.items():
            if name != INTERPOLATE and name not in self.layers:
                raise ReidError(f"params: gen.shares.{name} is neither a gen.layers group nor '{INTERPOLATE}'")
            if not isinstance(share, (int, float)) or share < 0:
                raise ReidError(f"params: gen.shares.{name} must be a number >= 0, got {share!r}")
        if self.images_per_person > 1 and sum(self.shares.values()) <= 0:
            raise ReidError("params: gen.shares must give some variation method a share > 0")


def check_layers(config: GenerationConfig, num_ws: int) -> None:
    """Refuse layer groups that do not exist in this generator."""
    for name, layers in config.layers.items():
        bad = [i for i in layers if not 0 <= i < num_ws]
        if bad:
            raise ReidError(f"params: gen.layers.{name} has layer {bad[0]}, the generator has ws 0..{num_ws - 1}")


def split_by_shares(count: int, shares: dict) -> dict:
    """Integer counts per method proportional to the shares, summing to `count` (largest remainder)."""
    names = [name for name, share in shares.items() if share > 0]
    total = sum(shares[name] for name in names)
    exact = {name: count * shares[name] / total for name in names}
    counts = {name: int(np.floor(exact[name])) for name in names}
    by_remainder = sorted(names, key=lambda name: (-(exact[name] - counts[name]), names.index(name)))
    for name in by_remainder[: count - sum(counts.values())]:
        counts[name] += 1
    return counts


def person_plan(config: GenerationConfig, person: int, pid: int) -> list[dict]:
    """Manifest rows of one person (`file`: `<pid>/<name>`): its seed image, then the variations in a seeded order."""
    seed = config.seed + person
    rng = np.random.default_rng([config.seed, person])
    methods = [name for name, n in split_by_shares(config.images_per_person - 1, config.shares).items()
               for _ in range(n)]
    methods = [methods[i] for i in rng.permutation(len(methods))]
    mix_seeds = rng.integers(0, 2**31 - 1, size=len(methods))
    weights = rng.uniform(0, config.interpolation, size=len(methods))
    rows = []
    for index in range(config.images_per_person):
        camid = 1 + index % config.cameras
        name = f"{pid:04d}_c{camid}s1_{index:06d}_00.jpg"
        row = {"file": f"{pid:04d}/{name}", "pid": pid, "camid": camid, "seed": seed,
               "mix_seed": -1, "group": SEED_GROUP, "layers": "", "psi": config.truncation_psi, "weight": 0.0}
        if index > 0:
            method = methods[index - 1]
            row.update(mix_seed=int(mix_seeds[index - 1]), group=method)
            if method == INTERPOLATE:
                row["weight"] = round(float(weights[index - 1]), 6)
            else:
                row.update(layers=" ".join(map(str, config.layers[method])), weight=1.0)
        rows.append(row)
    return rows


def plan_persons(config: GenerationConfig, first_pid: int) -> pd.DataFrame:
    """The manifest of the whole run, before any image is made: files are members of tar shards, in manifest order."""
    if first_pid < 1 or first_pid + config.persons - 1 > 9999:
        raise ReidError(f"gen: pids {first_pid}..{first_pid + config.persons - 1} do not fit Market's 4 digits")
    rows = [row for p in range(config.persons) for row in person_plan(config, p, first_pid + p)]
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    manifest["file"] = shard_addresses(list(manifest.file))
    return manifest


def latent_from_seed(seed: int, z_dim: int) -> torch.Tensor:
    """z of a seed, drawn as StyleGAN's tools do (numpy RandomState normal), so seeds mean the same there."""
    return torch.from_numpy(np.random.RandomState(seed).randn(z_dim)).float()


def mix_layers(ws: torch.Tensor, other: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """ws (N, num_ws, w_dim) with the listed layers taken from `other`; the rest untouched."""
    mixed = ws.clone()
    mixed[:, layers] = other[:, layers]
    return mixed


def interpolate_ws(ws: torch.Tensor, other: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Move every layer's w the fraction `weight` (N,) of the way towards `other`."""
    return torch.lerp(ws, other, weight.view(-1, 1, 1).to(ws.dtype))


@torch.no_grad()
def styles_for(G: Generator, rows: pd.DataFrame, psi: float, device: torch.device) -> torch.Tensor:
    """ws (N, num_ws, w_dim) of manifest rows: the person's w, mixed or interpolated as the row says."""
    z = torch.stack([latent_from_seed(int(s), G.z_dim) for s in rows.seed]).to(device)
    ws = G.mapping(z, truncation_psi=psi)
    varied = np.flatnonzero(rows.group.to_numpy() != SEED_GROUP)
    if len(varied) == 0:
        return ws
    z_mix = torch.stack([latent_from_seed(int(s), G.z_dim) for s in rows.mix_seed.iloc[varied]]).to(device)
    ws_mix = G.mapping(z_mix, truncation_psi=psi)
    for k, i in enumerate(varied):
        row = rows.iloc[i]
        if row.group == INTERPOLATE:
            ws[i : i + 1] = interpolate_ws(ws[i : i + 1], ws_mix[k : k + 1], torch.tensor([row.weight]))
        else:
            ws[i : i + 1] = mix_layers(ws[i : i + 1], ws_mix[k : k + 1], [int(x) for x in row.layers.split()])
    return ws


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@torch.no_grad()
def render_persons(G: Generator, manifest: pd.DataFrame, config: GenerationConfig, output: Path,
                   device: torch.device, batch: int = 32, progress: bool = True) -> np.ndarray | None:
    """Write every manifest image as a 128x64 JPEG at its address in `output`; return the sheet's images (or None).

    Batches follow the manifest order, so the same params give the same bytes.
    """
    check_layers(config, G.num_ws)
    G.eval()
    grid_rows = min(config.grid_persons, config.persons) * config.images_per_person
    grid = []
    with (progress_bar(total=len(manifest), desc="generate", unit="img", disable=not progress) as bar,
          ImageWriter(output) as writer):
        for start in range(0, len(manifest), batch):
            rows = manifest.iloc[start : start + batch]
            ws = styles_for(G, rows, config.truncation_psi, device)
            images = to_person(G.synthesis(ws).cpu()).permute(0, 2, 3, 1).numpy()
            for file, image in zip(rows.file, images):
                writer.add(file, jpeg_bytes(image, config.jpeg_quality))
            grid.extend(images[: max(0, grid_rows - start)])
            bar.update(len(rows))
    return np.stack(grid) if grid else None
