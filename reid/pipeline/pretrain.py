"""Stage `pretrain`: the re-ID network trained on the embedded synthetic set, a start for real re-ID training.

Pretraining on synthetic people and fine-tuning on the real set (RandPerson,
UnrealPerson, ClonedPerson) is the second way synthetic images help re-ID.
The stage always exists, so `train_reid` can always depend on its folder, but
it trains only when `reid.pretrained` is `synthetic`; otherwise it writes a
note and nothing is trained. Its set comes from the embedded generator
whatever `data.source` is, drawn from `pretrain.synthetic` (seed, identities),
and the generator writes it to disk in batches, never holding it in memory.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from reid.config import from_section
from reid.data.index import read_index
from reid.data.prepare import PrepareConfig, prepare_dataset
from reid.engine.train import TrainConfig
from reid.errors import ReidError
from reid.io import atomic_dir, atomic_write_json
from reid.models.baseline import SYNTHETIC_INIT, init_label
from reid.pipeline.common import run_settings
from reid.pipeline.train_reid import TrainOutputs, train_and_record

SET_DIR = "set"
MODEL_FILE = "model.pt"
NOT_REQUESTED = "not-requested.txt"


@dataclass(frozen=True)
class PretrainSet:
    """params.yaml `pretrain.synthetic:` the draw of the embedded generator that pretraining learns from.

    With the defaults of `data:` (seed 0, 150 ids x 12 images) its training
    images are byte for byte those of the embedded data set's training split.
    """

    seed: int = 0
    ids: int = 150
    images_per_id: int = 12
    jpeg_quality: int = 90

    def prepare_config(self, height: int, width: int) -> PrepareConfig:
        """The generator's config: these training identities and the fewest test images it allows (unused)."""
        counts = {"train_ids": self.ids, "images_per_id": self.images_per_id, "jpeg_quality": self.jpeg_quality,
                  "test_ids": 1, "gallery_per_id": 2, "distractors": 0, "junk": 0}
        return PrepareConfig(source="synthetic", seed=self.seed, height=height, width=width, synthetic=counts)


@dataclass(frozen=True)
class PretrainConfig:
    """params.yaml `pretrain:` the set (`synthetic:`), the start (`init`) and the recipe (the keys of `reid:`)."""

    synthetic: PretrainSet
    recipe: TrainConfig  # its `pretrained` is `pretrain.init`

    @classmethod
    def from_params(cls, values: dict | None) -> "PretrainConfig":
        values = dict(values or {})
        if "pretrained" in values:
            raise ReidError("params: unknown key pretrain.pretrained (the pretraining's start is pretrain.init)")
        synthetic = from_section(PretrainSet, values.pop("synthetic", None), "pretrain.synthetic")
        init = values.pop("init", None) or ""
        if not isinstance(init, str):
            raise ReidError(f"params: pretrain.init must be a str, got {init!r}")
        if init == SYNTHETIC_INIT:
            raise ReidError(f"params: pretrain.init cannot be {SYNTHETIC_INIT!r}, the pretrain stage's own output")
        recipe = from_section(TrainConfig, {**values, "pretrained": init}, "pretrain")
        return cls(synthetic, recipe)


def _per_thousand(seconds: float, images: int) -> float:
    return round(1000 * seconds / images, 2)


def run_pretraining(values: dict, pretrained: str, run: dict, output: Path, checkpoints: Path, summary_path: Path,
                    progress: bool = True) -> dict:
    """Pretrain into `output` when `pretrained` (the value of reid.pretrained) is `synthetic`; else write a note.

    `output` gets `model.pt` (what `reid.pretrained: synthetic` loads), the
    generated set under `set/`, the curves and `train.json`; `summary_path`
    the summary with the time per 1,000 images.
    """
    config = PretrainConfig.from_params(values)
    if pretrained != SYNTHETIC_INIT:
        why = f"reid.pretrained is {pretrained!r} ({init_label(pretrained)}), not {SYNTHETIC_INIT!r}: nothing to pretrain"
        with atomic_dir(output) as tmp:
            (tmp / NOT_REQUESTED).write_text(why + "\n", encoding="utf-8")
        summary = {"trained": False, "why": why}
        atomic_write_json(summary_path, summary)
        print(why)
        return summary
    recipe = config.recipe
    with atomic_dir(output) as tmp:
        started = time.perf_counter()
        prepare_dataset(config.synthetic.prepare_config(recipe.height, recipe.width), tmp / SET_DIR, progress)
        generate_seconds = time.perf_counter() - started
        index = read_index(tmp / SET_DIR)
        train, val = index[index.split == "train"], index[index.split == "val"]
        images = len(train) + len(val)
        outputs = TrainOutputs(tmp / MODEL_FILE, tmp / "train_log.tsv", tmp / "train_curves.png", tmp / "train.json")
        title = f"pretraining: {images} synthetic images of {config.synthetic.ids} persons"
        trained = train_and_record(recipe, run_settings(run), train, val, __name__, checkpoints, outputs, title,
                                   progress)
    summary = {
        "trained": True,
        **trained,
        "synthetic": dataclasses.asdict(config.synthetic),
        "synthetic_images": images,
        "generate_seconds": round(generate_seconds, 1),
        "seconds_per_1000_images": {
            "generate": _per_thousand(generate_seconds, images),
            "train_one_epoch": _per_thousand(trained["train_seconds"] / recipe.epochs, len(train)),
            "generate_and_train": _per_thousand(generate_seconds + trained["train_seconds"], images),
        },
    }
    atomic_write_json(summary_path, summary)
    print(f"pretrained on {images} synthetic images ({config.synthetic.ids} persons, seed {config.synthetic.seed}): "
          f"{summary['seconds_per_1000_images']['generate_and_train']} s per 1,000 images")
    return summary
