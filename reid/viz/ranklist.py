"""Rank lists of a few queries, one model's row beside the other's (thesis Fig 5.22).

Mean numbers hide what a model gets wrong; a rank list shows it. Each model
ranks the gallery as evaluation does (cosine distance, stable order, the
query's own-camera shots of its person and pid -1 junk removed, pid 0
distractors kept as wrong answers), and each shown match gets a green
border when it is the query's person and a red one when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from reid.data.images import load_image
from reid.data.index import read_index
from reid.device import pick_device
from reid.engine.features import cosine_distance, extract_features
from reid.errors import ReidError
from reid.io import atomic_path
from reid.models.baseline import load_model

CELL_HEIGHT, CELL_WIDTH = 128, 64  # Market-1501 crop size, the size every image is shown at
BORDER = 3
GAP = 4  # between cells and between a block's rows
QUERY_GAP = 12  # sets the query apart from its matches
BLOCK_GAP = 14  # between two queries
LABEL_WIDTH = 96
HEADER_HEIGHT = 16
FOOTER_HEIGHT = 16
LEGEND = "green border: the query's person, red: another; junk (own camera, pid -1) left out as in evaluation"
GREEN, RED, QUERY_GREY = (0, 170, 0), (220, 0, 0), (128, 128, 128)
BACKGROUND, TEXT = (255, 255, 255), (0, 0, 0)


@dataclass(frozen=True)
class RankLists:
    """The chosen queries, the gallery, and per model the gallery rows each query's top matches are."""

    queries: pd.DataFrame
    gallery: pd.DataFrame
    matches: dict  # model name -> list (one per query) of gallery row numbers, best first


def ranked_gallery(distances: np.ndarray, query_pid: int, query_camid: int, gallery_pids: np.ndarray,
                   gallery_camids: np.ndarray, top: int) -> np.ndarray:
    """The `top` nearest gallery rows for one query, junk left out as Market-1501 evaluation does."""
    junk = (gallery_pids == -1) | ((gallery_pids == query_pid) & (gallery_camids == query_camid))
    order = np.argsort(distances, kind="stable")
    return order[~junk[order]][:top]


def choose_queries(queries: pd.DataFrame, gallery: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """`count` queries drawn with `seed` among those evaluation scores (a match in another camera)."""
    cameras = gallery.groupby("pid").camid.agg(set).to_dict()
    scored = [i for i, (pid, cam) in enumerate(zip(queries.pid, queries.camid))
              if pid != -1 and cameras.get(pid, set()) - {cam}]
    if not scored:
        raise ReidError("no query has a match in another camera of the gallery; check the prepared data")
    chosen = np.random.default_rng(seed).choice(scored, size=min(count, len(scored)), replace=False)
    return queries.iloc[np.sort(chosen)].reset_index(drop=True)


def rank_with_models(models: dict[str, Path], queries: pd.DataFrame, gallery: pd.DataFrame, top: int,
                     device: str = "auto", batch_size: int = 64, progress: bool = True) -> RankLists:
    """Each model's top matches for every query."""
    torch_device = pick_device(device)
    matches = {}
    for name, path in models.items():
        model, config = load_model(path, torch_device)
        size = (config["height"], config["width"])
        query_features = extract_features(model, list(queries.path), *size, torch_device, batch_size)
        gallery_features = extract_features(model, list(gallery.path), *size, torch_device, batch_size,
                                             f"gallery ({name})" if progress else "")
        distances = cosine_distance(query_features, gallery_features)
        matches[name] = [ranked_gallery(row, pid, cam, gallery.pid.to_numpy(), gallery.camid.to_numpy(), top)
                         for row, pid, cam in zip(distances, queries.pid, queries.camid)]
    return RankLists(queries, gallery, matches)


def cell_origin(query: int, model_row: int, column: int, models: int) -> tuple[int, int]:
    """Top-left (x, y) of a cell's border: column 0 is the query, 1.. the matches best first."""
    x = LABEL_WIDTH + column * (CELL_WIDTH + 2 * BORDER + GAP) + (QUERY_GAP if column else 0)
    row_height = CELL_HEIGHT + 2 * BORDER + GAP
    y = HEADER_HEIGHT + query * (models * row_height + BLOCK_GAP) + model_row * row_height
    return x, y


def render(lists: RankLists, top: int) -> Image.Image:
    """One image: a header, per query one row per model (query, then its matches with green/red borders), a legend."""
    names = list(lists.matches)
    width, _ = cell_origin(0, 0, top + 1, len(names))
    _, height = cell_origin(len(lists.queries), 0, 0, len(names))
    canvas = Image.new("RGB", (width, height - BLOCK_GAP + FOOTER_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((4, canvas.height - FOOTER_HEIGHT + 2), LEGEND, fill=TEXT, font=font)
    for column, title in enumerate(["query", *map(str, range(1, top + 1))]):
        x, _ = cell_origin(0, 0, column, len(names))
        draw.text((x + BORDER, 2), title, fill=TEXT, font=font)

    def cell(path: str, origin: tuple[int, int], colour) -> None:
        x, y = origin
        draw.rectangle([x, y, x + CELL_WIDTH + 2 * BORDER - 1, y + CELL_HEIGHT + 2 * BORDER - 1], fill=colour)
        canvas.paste(Image.fromarray(load_image(path, CELL_HEIGHT, CELL_WIDTH)), (x + BORDER, y + BORDER))

    for q, query in enumerate(lists.queries.itertuples()):
        for m, name in enumerate(names):
            x, y = cell_origin(q, m, 0, len(names))
            draw.text((4, y + 4), name, fill=TEXT, font=font)
            draw.text((4, y + 20), f"pid {query.pid} cam {query.camid}", fill=TEXT, font=font)
            cell(query.path, (x, y), QUERY_GREY)
            for rank, g in enumerate(lists.matches[name][q], start=1):
                match = lists.gallery.iloc[g]
                cell(match.path, cell_origin(q, m, rank, len(names)), GREEN if match.pid == query.pid else RED)
    return canvas


def save_rank_lists(models: dict[str, Path], data: Path, output: Path, queries: int = 8, seed: int = 0,
                    top: int = 10, device: str = "auto", progress: bool = True) -> RankLists:
    """Choose queries from DATA's index, rank its gallery with each model, write the PNG."""
    if queries < 1 or top < 1:
        raise ReidError(f"--queries and --top must be at least 1, got {queries} and {top}")
    index = read_index(data)
    query_rows = index[index.split == "query"].reset_index(drop=True)
    gallery = index[index.split == "gallery"].reset_index(drop=True)
    if query_rows.empty or gallery.empty:
        raise ReidError(f"{data}: the index has no query or no gallery images; rerun the prepare stage")
    lists = rank_with_models(models, choose_queries(query_rows, gallery, queries, seed), gallery, top, device,
                             progress=progress)
    with atomic_path(output) as tmp:
        render(lists, top).save(tmp, format="PNG")
    return lists
