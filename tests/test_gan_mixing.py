"""Artificial persons: layer-group mixing touches only its ws, plans and files are deterministic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_generator

from reid.data.market import parse_market_name
from reid.errors import ReidError
from reid.data.generated import MANIFEST, SEED_GROUP
from reid.data.shards import read_image_bytes
from reid.gan.mixing import (INTERPOLATE, GenerationConfig, check_layers, latent_from_seed,
                             plan_persons, render_persons, split_by_shares, styles_for)
from reid.gan.sampling import to_person

SMALL = GenerationConfig(persons=3, images_per_person=9, seed=7, truncation_psi=0.8, grid_persons=2,
                         shares={"coarse": 0.25, "middle": 0.25, "fine": 0.25, "interpolate": 0.25})


def test_split_by_shares_is_proportional_and_exact():
    assert split_by_shares(50, {"middle": 0.5, "fine": 0.3, "interpolate": 0.2}) == {
        "middle": 25, "fine": 15, "interpolate": 10}
    counts = split_by_shares(7, {"a": 1, "b": 1, "c": 1, "zero": 0})
    assert sum(counts.values()) == 7 and sorted(counts.values()) == [2, 2, 3] and "zero" not in counts


def test_plan_is_deterministic_and_per_person():
    plan = plan_persons(SMALL, first_pid=1502)
    assert len(plan) == 27 and list(plan.pid.unique()) == [1502, 1503, 1504]
    assert plan.equals(plan_persons(SMALL, first_pid=1502))
    seeds = plan[plan.group == SEED_GROUP]
    assert list(seeds.index) == [0, 9, 18] and list(seeds.seed) == [7, 8, 9]
    # a person's images do not depend on how many persons are generated
    more = plan_persons(dataclasses.replace(SMALL, persons=5), first_pid=1502)
    assert more.iloc[:27].equals(plan)
    variations = plan[plan.group != SEED_GROUP]
    assert set(variations.groupby("pid").group.value_counts()) == {2}  # 8 variations per person, 4 equal shares
    assert (variations.mix_seed >= 0).all() and (plan.loc[seeds.index, "mix_seed"] == -1).all()
    for file, pid, camid in zip(plan.file, plan.pid, plan.camid):
        assert file.startswith(f"images-000.tar/{pid:04d}/") and parse_market_name(file) == (pid, camid)
    interpolated = variations[variations.group == INTERPOLATE]
    assert ((interpolated.weight >= 0) & (interpolated.weight <= SMALL.interpolation)).all()
    other_seed = plan_persons(dataclasses.replace(SMALL, seed=8), first_pid=1502)
    assert not other_seed.mix_seed.equals(plan.mix_seed)


def test_layer_group_mixing_changes_only_its_ws():
    G = tiny_generator()
    plan = plan_persons(SMALL, first_pid=1)
    ws = styles_for(G, plan, SMALL.truncation_psi, torch.device("cpu"))
    with torch.no_grad():
        own = G.mapping(torch.stack([latent_from_seed(s, 16) for s in plan.seed]), truncation_psi=0.8)
        mixed_in = G.mapping(torch.stack([latent_from_seed(max(s, 0), 16) for s in plan.mix_seed]),
                             truncation_psi=0.8)
    for i, row in plan.iterrows():
        if row.group == SEED_GROUP:
            assert torch.equal(ws[i], own[i])
        elif row.group == INTERPOLATE:
            assert torch.allclose(ws[i], own[i] + row.weight * (mixed_in[i] - own[i]), atol=1e-6)
        else:
            layers = [int(x) for x in row.layers.split()]
            assert layers == SMALL.layers[row.group]
            others = [k for k in range(G.num_ws) if k not in layers]
            assert torch.equal(ws[i, layers], mixed_in[i, layers])
            assert torch.equal(ws[i, others], own[i, others])
            assert not torch.equal(ws[i, layers], own[i, layers])


def test_render_writes_identical_bytes_and_the_seed_image_first(tmp_path):
    G = tiny_generator()
    plan = plan_persons(SMALL, first_pid=20)
    sheet = render_persons(G, plan, SMALL, tmp_path / "a", torch.device("cpu"), 5, progress=False)
    render_persons(G, plan, SMALL, tmp_path / "b", torch.device("cpu"), 5, progress=False)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["images-000.tar"]  # 18 images: one shard
    assert (tmp_path / "a/images-000.tar").read_bytes() == (tmp_path / "b/images-000.tar").read_bytes()
    for file in plan.file:
        assert read_image_bytes(tmp_path / "a" / file)[:2] == b"\xff\xd8"  # a JPEG
    assert sheet.shape == (2 * 9, 128, 64, 3) and sheet.dtype == np.uint8
    with torch.no_grad():
        seed_image = G.synthesis(G.mapping(latent_from_seed(7, 16)[None], truncation_psi=0.8))
    assert np.array_equal(sheet[0], to_person(seed_image)[0].permute(1, 2, 0).numpy())
    assert not (tmp_path / "a" / MANIFEST).exists()  # the manifest is the caller's (atomic) business


def test_bad_generation_settings():
    with pytest.raises(ReidError, match="gen.shares.pose is neither"):
        GenerationConfig(shares={"pose": 1.0})
    with pytest.raises(ReidError, match="gen.layers.fine must be a non-empty list"):
        GenerationConfig(layers={"fine": []}, shares={"interpolate": 1})
    with pytest.raises(ReidError, match="gen.layers.fine has layer 16"):
        check_layers(GenerationConfig(layers={"fine": [12, 16]}, shares={"fine": 1}), num_ws=16)
    with pytest.raises(ReidError, match="do not fit Market's 4 digits"):
        plan_persons(GenerationConfig(persons=10), first_pid=9995)
