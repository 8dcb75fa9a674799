"""The `evaluate` step: features of query and gallery, cosine ranking, Market-1501 metrics.

The raw-pixel cosine baseline is computed on the same split, so every
metrics file says how much the model adds over not learning at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reid.device import pick_device
from reid.engine.features import cosine_distance, extract_features, raw_pixel_features
from reid.errors import ReidError
from reid.metrics.rank import RankResult, evaluate_market1501
from reid.models.baseline import init_label, load_model


@dataclass(frozen=True)
class EvalConfig:
    """params.yaml `eval:` section."""

    max_rank: int = 50
    raw_pixel_baseline: bool = True


@dataclass
class Evaluation:
    model: RankResult
    raw_pixel: RankResult | None
    model_info: dict
    init: str  # what training started from: random, synthetic or a weights file
    num_query: int
    num_gallery: int

    def metrics(self) -> dict:
        """The JSON written to metrics/eval.json (cmc curves go to their own TSV)."""
        out = {k: v for k, v in self.model.as_dict().items() if k != "cmc"}
        out.update(thesis_line=self.model.thesis_line(), num_query=self.num_query, num_gallery=self.num_gallery)
        out["model"] = self.model_info
        out["init"] = self.init
        if self.raw_pixel is not None:
            out["raw_pixel_baseline"] = {k: v for k, v in self.raw_pixel.as_dict().items() if k != "cmc"}
        return out

    def cmc_table(self) -> pd.DataFrame:
        table = pd.DataFrame({"rank": range(1, len(self.model.cmc) + 1), "cmc": self.model.cmc})
        if self.raw_pixel is not None:
            table["cmc_raw_pixel"] = self.raw_pixel.cmc
        return table


def _rank(query_features, gallery_features, query: pd.DataFrame, gallery: pd.DataFrame, max_rank: int) -> RankResult:
    distmat = cosine_distance(query_features, gallery_features)
    return evaluate_market1501(
        distmat, query.pid.to_numpy(), gallery.pid.to_numpy(), query.camid.to_numpy(), gallery.camid.to_numpy(), max_rank
    )


def evaluate_reid(index: pd.DataFrame, model_path: str | Path, config: EvalConfig, device: str = "auto",
                  batch_size: int = 64, progress: bool = True) -> Evaluation:
    """Rank the gallery for every query with the model (and raw pixels) and score it."""
    query = index[index.split == "query"].reset_index(drop=True)
    gallery = index[index.split == "gallery"].reset_index(drop=True)
    if query.empty or gallery.empty:
        raise ReidError("the index has no query or no gallery images; rerun the prepare stage")
    device = pick_device(device)
    model, model_config = load_model(model_path, device)
    size = (model_config["height"], model_config["width"])
    query_features = extract_features(model, list(query.path), *size, device, batch_size, "query" if progress else "")
    gallery_features = extract_features(
        model, list(gallery.path), *size, device, batch_size, "gallery" if progress else ""
    )
    result = _rank(query_features, gallery_features, query, gallery, config.max_rank)
    raw = None
    if config.raw_pixel_baseline:
        raw = _rank(raw_pixel_features(list(query.path)), raw_pixel_features(list(gallery.path)), query, gallery, config.max_rank)
    info = {"arch": model_config["arch"], "pretrained": bool(model_config["pretrained"]), "input": list(size)}
    return Evaluation(result, raw, info, init_label(model_config["pretrained"]), len(query), len(gallery))
