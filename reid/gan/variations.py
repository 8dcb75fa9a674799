"""Variations of real persons (thesis §4.1, Table 5.11): invert each real image to W+, then mix or interpolate.

A real training identity's images are encoded into the generator's W+ space;
each variation takes one of them (in turn) and, like the artificial persons
of `reid.gan.mixing`, copies another seed's ws into one layer group
(`gen.layers`, e.g. fine: colours and light; middle: pose) or interpolates
all ws part of the way towards it (`gen.shares` says how often each). A
variation keeps its person's pid and its source image's camera, so it can be
trained as that identity. The plan is drawn per identity from
`(invert.seed, pid)`, so an identity's variations do not depend on the others.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image

from reid.data.generated import IMAGES
from reid.errors import ReidError
from reid.gan.generator import Generator
from reid.gan.mixing import (INTERPOLATE, GenerationConfig, interpolate_ws, jpeg_bytes, latent_from_seed, mix_layers,
                             split_by_shares)

VARIATION_COLUMNS = ["file", "pid", "camid", "source", "seed", "group", "layers", "psi", "weight"]


@dataclass(frozen=True)
class InvertConfig:
    """params.yaml `invert:` section."""

    variations_per_person: int = 60  # made per real training identity, before the filters
    seed: int = 0
    grid_persons: int = 8            # identities shown in the sheet: their first source image, then variations

    def __post_init__(self):
        if self.variations_per_person < 1:
            raise ReidError(f"params: invert.variations_per_person must be >= 1, got {self.variations_per_person}")
        if self.grid_persons < 0:
            raise ReidError("params: invert.grid_persons must be >= 0")


def plan_variations(sources: pd.DataFrame, config: InvertConfig, gen: GenerationConfig) -> pd.DataFrame:
    """Manifest rows of every variation: (file, pid, camid, source, seed, group, layers, psi, weight).

    `sources` has columns source (the image's name in the data folder), pid, camid. Each identity's
    images are used in turn (sorted by name); `seed` is the other latent's seed.
    """
    if sum(gen.shares.values()) <= 0:
        raise ReidError("params: gen.shares must give some variation method a share > 0")
    rows = []
    for pid, images in sources.sort_values("source").groupby("pid", sort=True):
        rng = np.random.default_rng([config.seed, int(pid)])
        methods = [name for name, n in split_by_shares(config.variations_per_person, gen.shares).items()
                   for _ in range(n)]
        methods = [methods[i] for i in rng.permutation(len(methods))]
        mix_seeds = rng.integers(0, 2**31 - 1, size=len(methods))
        weights = rng.uniform(0, gen.interpolation, size=len(methods))
        for k, method in enumerate(methods):
            source = images.iloc[k % len(images)]
            name = f"{int(pid):04d}_c{int(source.camid)}s1_{k:06d}_00.jpg"
            interpolated = method == INTERPOLATE
            rows.append({"file": f"{IMAGES}/{int(pid):04d}/{name}", "pid": int(pid), "camid": int(source.camid),
                         "source": source.source, "seed": int(mix_seeds[k]), "group": method,
                         "layers": "" if interpolated else " ".join(map(str, gen.layers[method])),
                         "psi": gen.truncation_psi,
                         "weight": round(float(weights[k]), 6) if interpolated else 1.0})
    return pd.DataFrame(rows, columns=VARIATION_COLUMNS)


@torch.no_grad()
def vary(G: Generator, source_ws: torch.Tensor, rows: pd.DataFrame, device: torch.device) -> torch.Tensor:
    """ws of `rows`: each row's source W+ (`source_ws`, one per row) mixed with, or moved towards, its seed's w."""
    z = torch.stack([latent_from_seed(int(s), G.z_dim) for s in rows.seed]).to(device)
    other = G.mapping(z, truncation_psi=float(rows.psi.iloc[0]))
    ws = source_ws.to(device).clone()
    for i, row in enumerate(rows.itertuples()):
        if row.group == INTERPOLATE:
            ws[i : i + 1] = interpolate_ws(ws[i : i + 1], other[i : i + 1], torch.tensor([row.weight]))
        else:
            ws[i : i + 1] = mix_layers(ws[i : i + 1], other[i : i + 1], [int(x) for x in row.layers.split()])
    return ws


def jpeg_round_trip(image: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    """The JPEG bytes of an (H, W, 3) uint8 image and the image decoded from them (what training will read)."""
    data = jpeg_bytes(image, quality)
    with Image.open(io.BytesIO(data)) as decoded:
        return data, np.array(decoded.convert("RGB"))
