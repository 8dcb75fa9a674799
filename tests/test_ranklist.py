"""`reid visualize`: rank lists ranked as evaluation ranks, junk left out, borders coloured by identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_jpeg
from PIL import Image
from typer.testing import CliRunner

from reid.cli import app
from reid.data.market import INDEX_COLUMNS
from reid.errors import ReidError
from reid.models.baseline import ReidNet, save_model
from reid.viz.ranklist import (BACKGROUND, BORDER, CELL_HEIGHT, GAP, GREEN, QUERY_GREY, RED, cell_origin,
                               choose_queries, ranked_gallery, save_rank_lists)

QUERIES = [(10, 1), (11, 1), (12, 1)]  # pid 12 has no gallery image in another camera: never chosen
GALLERY = [(10, 2), (10, 3), (10, 1), (11, 2), (11, 3), (12, 1), (0, 4), (-1, 5)]


def test_junk_is_left_out_and_ties_keep_gallery_order():
    pids = np.array([5, 5, -1, 7, 0, 5])
    cams = np.array([1, 2, 3, 1, 4, 1])
    distances = np.array([0.1, 0.5, 0.0, 0.3, 0.3, 0.2])
    # 0 and 5 are the query's person in its own camera, 2 is pid -1: junk however near.
    assert ranked_gallery(distances, 5, 1, pids, cams, top=10).tolist() == [3, 4, 1]
    assert ranked_gallery(distances, 5, 1, pids, cams, top=2).tolist() == [3, 4]


def test_queries_are_drawn_by_seed_among_those_with_a_match():
    queries = pd.DataFrame(QUERIES, columns=["pid", "camid"])
    gallery = pd.DataFrame(GALLERY, columns=["pid", "camid"])
    assert sorted(choose_queries(queries, gallery, 5, seed=0).pid) == [10, 11]
    one = [choose_queries(queries, gallery, 1, seed=s).pid.tolist() for s in range(8)]
    assert one == [choose_queries(queries, gallery, 1, seed=s).pid.tolist() for s in range(8)]
    assert {pid for (pid,) in one} == {10, 11}
    with pytest.raises(ReidError, match="no query has a match in another camera"):
        choose_queries(queries[queries.pid == 12], gallery, 1, seed=0)


def make_data(root):
    """A prepared folder: index.csv and the images it names."""
    rows = []
    for split, people in (("query", QUERIES), ("gallery", GALLERY)):
        for k, (pid, cam) in enumerate(people):
            path = f"{split}/{pid}_c{cam}_{k}.jpg"
            write_jpeg(root / path, seed=len(rows) + 1)
            rows.append((path, pid, cam, split))
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(root / "index.csv", index=False)
    return root


def make_model(path, seed):
    torch.manual_seed(seed)
    settings = {"arch": "resnet18", "bottleneck": 32, "dropout": 0.5, "height": 64, "width": 32}
    save_model(ReidNet("resnet18", 3, bottleneck=32), settings, [1, 2, 3], {}, path)
    return path


def test_rank_lists_of_two_models(tmp_path):
    data = make_data(tmp_path / "prepared")
    models = {"baseline": make_model(tmp_path / "a.pt", 0), "augmented": make_model(tmp_path / "b.pt", 1)}
    lists = save_rank_lists(models, data, tmp_path / "two.png", queries=8, seed=0, top=10, device="cpu",
                            progress=False)
    assert lists.queries.pid.tolist() == [10, 11]
    gallery = lists.gallery
    for name in models:
        for query, matches in zip(lists.queries.itertuples(), lists.matches[name]):
            shown = [tuple(gallery.loc[g, ["pid", "camid"]]) for g in matches]
            expected = [p for p in GALLERY if p[0] != -1 and p != (query.pid, query.camid)]
            assert sorted(shown) == sorted(expected)  # everything but junk, top 10 > gallery

    with Image.open(tmp_path / "two.png") as image:
        two = image.convert("RGB")
    save_rank_lists({"baseline": models["baseline"]}, data, tmp_path / "one.png", queries=8, seed=0, top=10,
                    device="cpu", progress=False)
    with Image.open(tmp_path / "one.png") as image:
        one = image.convert("RGB")
    assert two.width == one.width
    assert two.height - one.height == 2 * (CELL_HEIGHT + 2 * BORDER + GAP)  # one more row for each of 2 queries

    seen = set()
    for q, query in enumerate(lists.queries.itertuples()):
        assert two.getpixel(cell_origin(q, 1, 0, 2)) == QUERY_GREY
        for m, name in enumerate(models):
            for rank, g in enumerate(lists.matches[name][q], start=1):
                x, y = cell_origin(q, m, rank, 2)
                colour = two.getpixel((x + 1, y + CELL_HEIGHT // 2))
                assert colour == (GREEN if gallery.pid[g] == query.pid else RED)
                seen.add(colour)
            beyond = cell_origin(q, m, len(lists.matches[name][q]) + 1, 2)
            assert two.getpixel((beyond[0] + 1, beyond[1] + 1)) == BACKGROUND
    assert seen == {GREEN, RED}


def test_cli_visualize_without_a_model_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = make_data(tmp_path / "prepared")
    done = CliRunner().invoke(app, ["visualize", "--baseline", "none.pt", "--data", str(data), "--output", "r.png",
                                    "--no-progress"])
    assert done.exit_code == 2
    assert done.stderr.strip() == "error: none.pt: model file not found; run the train_reid stage (reid train) first"
    assert not (tmp_path / "r.png").exists()
