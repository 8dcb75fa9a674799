"""Variations of real persons (thesis §4.1, Table 5.11): invert each real image to W+, then mix or interpolate.

A real training identity's images are encoded into the generator's W+ space
(then refined, `reid.gan.projector`); each variation takes one of them (in
turn) and, like the artificial persons of `reid.gan.mixing`, copies a donor's
ws into one layer group (`gen.layers`) or interpolates all ws part of the way
towards it (`gen.shares` says how often each). The donor is another image of
the same person (`invert.donors: identity`), so a variation recombines what
the encoder saw of that person: in this generator the colours sit in ws 4-7,
inside the middle group, so another seed's ws (`seeds`, the thesis's way)
give the body another person's clothes. A person with a single image falls
back to seeds. A variation keeps its person's pid and its source image's
camera, so it can be trained as that identity. The plan is drawn per identity
from `(invert.seed, pid)`, so an identity's variations do not depend on the others.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from reid.data.market import parse_market_name
from reid.data.shards import ImageWriter, shard_addresses
from reid.errors import ReidError
from reid.gan.generator import Generator
from reid.gan.mixing import (INTERPOLATE, GenerationConfig, interpolate_ws, jpeg_bytes, latent_from_seed, mix_layers,
                             split_by_shares)
from reid.gan.sampling import to_person
from reid.progress import progress_bar

VARIATION_COLUMNS = ["file", "pid", "camid", "source", "donor", "seed", "group", "layers", "psi", "weight"]
DONORS = ("identity", "seeds")


@dataclass(frozen=True)
class InvertConfig:
    """params.yaml `invert:` section."""

    variations_per_person: int = 60  # made per real training identity, before the filters
    donors: str = "identity"         # what a variation mixes with: identity = another image of its person; seeds (thesis)
    refine_steps: int = 100          # Adam steps on each W+ code after the encoder (reid.gan.projector); 0 = encoder only
    refine_lr: float = 0.02
    seed: int = 0
    grid_persons: int = 8            # identities shown in the sheet: their first source image, then variations

    def __post_init__(self):
        if self.variations_per_person < 1:
            raise ReidError(f"params: invert.variations_per_person must be >= 1, got {self.variations_per_person}")
        if self.donors not in DONORS:
            raise ReidError(f"params: invert.donors must be one of {', '.join(DONORS)}, got {self.donors!r}")
        if self.refine_steps < 0 or not self.refine_lr > 0:
            raise ReidError(f"params: invert.refine_steps must be >= 0 and invert.refine_lr > 0, got "
                            f"{self.refine_steps} and {self.refine_lr}")
        if self.grid_persons < 0:
            raise ReidError("params: invert.grid_persons must be >= 0")


def _draw(rng: np.random.Generator, count: int, gen: GenerationConfig) -> list[tuple[str, int, float]]:
    """`count` (method, other seed, interpolation weight) triples in a random order, methods in `gen.shares`."""
    methods = [name for name, n in split_by_shares(count, gen.shares).items() for _ in range(n)]
    methods = [methods[i] for i in rng.permutation(len(methods))]
    mix_seeds = rng.integers(0, 2**31 - 1, size=len(methods))
    weights = rng.uniform(0, gen.interpolation, size=len(methods))
    return list(zip(methods, (int(s) for s in mix_seeds), (float(w) for w in weights)))


def _donor(peers: list[str], position: int, turn: int) -> str:
    """The `turn`-th other image of a person whose images are `peers`, counted on from `position`; "" if none.

    Turn by turn every other image serves once before any serves twice.
    """
    return "" if len(peers) < 2 else peers[(position + 1 + turn % (len(peers) - 1)) % len(peers)]


def _row(file: str, pid: int, camid: int, source: str, donor: str, draw: tuple[str, int, float],
         gen: GenerationConfig) -> dict:
    """A manifest row; a variation with a donor image uses no seed (-1)."""
    method, seed, weight = draw
    interpolated = method == INTERPOLATE
    return {"file": file, "pid": pid, "camid": camid, "source": source, "donor": donor,
            "seed": -1 if donor else seed, "group": method,
            "layers": "" if interpolated else " ".join(map(str, gen.layers[method])), "psi": gen.truncation_psi,
            "weight": round(weight, 6) if interpolated else 1.0}


def _check_shares(gen: GenerationConfig) -> None:
    if sum(gen.shares.values()) <= 0:
        raise ReidError("params: gen.shares must give some variation method a share > 0")


def plan_variations(sources: pd.DataFrame, config: InvertConfig, gen: GenerationConfig) -> pd.DataFrame:
    """Manifest rows of every variation of every identity (VARIATION_COLUMNS).

    `sources` has columns source (the image's name in the data folder), pid, camid. Each identity's
    images are used in turn (sorted by name); `donor` is the other image of the person whose ws are mixed
    in (`invert.donors: identity`), else "" and `seed` is the other latent's seed.
    """
    _check_shares(gen)
    rows = []
    for pid, images in sources.sort_values("source").groupby("pid", sort=True):
        draws = _draw(np.random.default_rng([config.seed, int(pid)]), config.variations_per_person, gen)
        peers = list(images.source) if config.donors == "identity" else []
        for k, draw in enumerate(draws):
            source = images.iloc[k % len(images)]
            name = f"{int(pid):04d}_c{int(source.camid)}s1_{k:06d}_00.jpg"
            donor = _donor(peers, k % len(images), k // len(images))
            rows.append(_row(f"{int(pid):04d}/{name}", int(pid), int(source.camid), source.source, donor, draw, gen))
    plan = pd.DataFrame(rows, columns=VARIATION_COLUMNS)
    plan["file"] = shard_addresses(list(plan.file))  # thousands of files: a few tar shards move fast (README)
    return plan


def plan_image_variations(files: list[Path], per_image: int, seed: int, gen: GenerationConfig,
                          donors: str = "identity") -> pd.DataFrame:
    """`per_image` variations of each given image (`reid generate --input`), drawn from (seed, image number).

    A Market-style name keeps its pid and camera (`PPPP_cC...`, frames numbered on); any other name
    becomes `<stem>_<k>.jpg` with pid -1 and camera 0. Donor images are the other given images of the
    same pid; a plain name, pid 0 (distractor) or -1 (junk) is a person of its own (so it mixes with seeds).
    """
    _check_shares(gen)
    people = []
    for path in files:
        try:
            people.append(parse_market_name(path))
        except ReidError:
            people.append((-1, 0))
    images_of: dict[int, list[str]] = {}  # one pass: a Market folder holds thousands of persons
    for path, (pid, _) in zip(files, people):
        images_of.setdefault(pid, []).append(path.name)
    rows = []
    for i, (path, (pid, camid)) in enumerate(zip(files, people)):
        peers = images_of[pid] if donors == "identity" and pid > 0 else []
        for k, draw in enumerate(_draw(np.random.default_rng([seed, i]), per_image, gen)):
            name = (f"{pid:04d}_c{camid}s1_{i * per_image + k:06d}_00.jpg" if camid
                    else f"{path.stem}_{k:03d}.jpg")
            donor = _donor(peers, peers.index(path.name), k) if peers else ""
            rows.append(_row(name, pid, camid, path.name, donor, draw, gen))
    plan = pd.DataFrame(rows, columns=VARIATION_COLUMNS)
    clash = plan.file[plan.file.duplicated()]
    if not clash.empty:
        raise ReidError(f"two input images would both give {clash.iloc[0]}; rename one (same name, other suffix?)")
    return plan


@torch.no_grad()
def vary(G: Generator, source_ws: torch.Tensor, donor_ws: torch.Tensor, rows: pd.DataFrame,
         device: torch.device) -> torch.Tensor:
    """ws of `rows`: each row's source W+ mixed with, or moved towards, its donor's W+ or (no donor) its seed's w.

    `source_ws` and `donor_ws` have one code per row; a row without a donor ignores its `donor_ws`.
    """
    other = donor_ws.to(device).clone()
    seeded = np.flatnonzero(rows.donor.to_numpy() == "")
    if len(seeded):
        z = torch.stack([latent_from_seed(int(rows.seed.iloc[i]), G.z_dim) for i in seeded]).to(device)
        other[seeded] = G.mapping(z, truncation_psi=float(rows.psi.iloc[0]))
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


def render_variations(G: Generator, codes: torch.Tensor, row_of: dict[str, int], plan: pd.DataFrame, folder: Path,
                      quality: int, device: torch.device, batch: int = 64, progress: bool = True,
                      on_batch=None) -> None:
    """Write every planned variation as a 128x64 JPEG at its address in `folder`.

    `codes[row_of[name]]` is the W+ code of the image `name` (the plan's source and donor columns).

    `on_batch(rows, images)` gets each batch's manifest rows and its images as decoded from their
    JPEGs, so that callers screen what training will read. Batches follow the plan: the same plan
    gives the same bytes.
    """
    sources = [row_of[s] for s in plan.source]
    donors = [row_of[d or s] for s, d in zip(plan.source, plan.donor)]
    with (progress_bar(total=len(plan), desc="variations", unit="img", disable=not progress) as bar,
          ImageWriter(folder) as writer):
        for start in range(0, len(plan), batch):
            rows = plan.iloc[start : start + batch]
            with torch.no_grad():
                ws = vary(G, codes[sources[start : start + batch]], codes[donors[start : start + batch]], rows, device)
                made = to_person(G.synthesis(ws).cpu()).permute(0, 2, 3, 1).numpy()
            decoded = []
            for file, image in zip(rows.file, made):
                jpeg, as_read = jpeg_round_trip(image, quality)
                writer.add(file, jpeg)
                decoded.append(as_read)
            bar.update(len(rows))
            if on_batch is not None:
                on_batch(rows, np.stack(decoded))
