"""The W+ encoder: shapes for every generator cfg and aspect, losses, training that learns, resumes and repeats."""

from __future__ import annotations

import pytest
import torch

from reid.errors import ReidError
from reid.gan.encoder import (LOSS_TERMS, Encoder, ReidFeatures, freeze, invert, invert_steps, load_encoder,
                              reconstruction_losses, save_encoder, style_levels)
from reid.gan.encoder_training import EncoderConfig, build_encoder, measure, train_encoder
from reid.gan.generator import Generator
from reid.models.baseline import ReidNet

torch.set_num_threads(1)
TINY = dict(z_dim=16, w_dim=16, channel_base=256, channel_max=16)
CPU = torch.device("cpu")


def tiny_gan(cfg="stylegan2", height=16, width=8) -> Generator:
    torch.manual_seed(0)
    G = Generator(img_resolution=height, cfg=cfg, img_width=width, **TINY)
    G.mapping.w_avg.normal_()
    return freeze(G)


def tiny_features() -> ReidFeatures:
    torch.manual_seed(1)
    return ReidFeatures(ReidNet("resnet18", num_classes=3), 32, 16)


def person_like(n: int, height=16, width=8, seed=2) -> torch.Tensor:
    """Images in [-1, 1]: a bright torso block on a dark background, its colour varying per image."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.full((n, 3, height, width), -0.8)
    colours = torch.rand(n, 3, 1, 1, generator=generator) * 2 - 1
    images[:, :, height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = colours
    return images


@pytest.mark.parametrize("cfg", ["T", "R", "stylegan2"])
@pytest.mark.parametrize("height,width", [(16, 8), (16, 16)])
def test_w_plus_shapes_for_every_cfg_and_aspect(cfg, height, width):
    G = tiny_gan(cfg, height, width)
    encoder = Encoder(G.num_ws, G.w_dim, channels=4, fpn_channels=8)
    steps = invert_steps(encoder, G, person_like(3, height, width), iterations=2)
    assert len(steps) == 2
    for ws, image in steps:
        assert ws.shape == (3, G.num_ws, G.w_dim) == (3, 16, 16)
        assert image.shape == (3, 3, height, width) and torch.isfinite(image).all()
    # an untrained encoder stays near w_avg: its heads start almost at zero
    offsets = steps[0][0] - G.mapping.w_avg
    assert offsets.abs().max() < 0.05 * G.mapping.w_avg.abs().max()
    with pytest.raises(ReidError, match=rf"\(N, 3, {height}, {width}\)"):
        invert_steps(encoder, G, person_like(1, height * 2, width), 1)


def test_style_levels_follow_the_layer_groups():
    assert style_levels(16) == [0] * 6 + [1] * 6 + [2] * 4  # coarse 0-5, middle 6-11, fine 12-15
    assert len(style_levels(8)) == 8 and set(style_levels(8)) == {0, 1, 2}


def test_losses_are_zero_for_identical_inputs_and_identity_sees_a_change():
    G, features = tiny_gan(), tiny_features()
    images = person_like(4)
    ws = G.mapping.w_avg.expand(4, 16, -1)
    same = reconstruction_losses(images, images.clone(), ws, G.mapping.w_avg, features)
    assert set(same) == set(LOSS_TERMS)
    for name, value in same.items():
        assert value.shape == (4,) and value.abs().max() < 1e-6, name
    other = reconstruction_losses(images, images.roll(1, 0), ws + 1, G.mapping.w_avg, features)
    assert (other["identity"] > 1e-4).all() and (other["l2"] > 0).all() and (other["perceptual"] > 0).all()
    assert torch.allclose(other["w_norm"], torch.ones(4))
    assert "not LPIPS" in features.perceptual_name


def test_a_few_steps_lower_the_loss(tmp_path):
    G, features = tiny_gan(), tiny_features()
    images = person_like(8)
    config = EncoderConfig(channels=8, fpn_channels=16, steps=40, batch=8, lr=0.002, log_every=20, val_images=8,
                           iterations=1, mirror=False)
    torch.manual_seed(config.seed)
    before, _ = measure(build_encoder(config, G), G, features, images, 1)
    result = train_encoder(G, features, images, images, config, tmp_path / "run", "key", CPU, progress=False)
    after, reconstructions = measure(result.encoder, G, features, images, 1)
    total = lambda terms: sum(getattr(config.weights, k) * terms[k].mean() for k in LOSS_TERMS)  # noqa: E731
    assert total(after) < 0.8 * total(before)
    assert after["l2"].mean() < before["l2"].mean()
    assert [row["step"] for row in result.history] == [20, 40] and result.run == "fresh"
    assert {f"{p}_{k}" for p in ("train", "val") for k in (*LOSS_TERMS, "total")} <= set(result.history[0])
    assert reconstructions.shape == images.shape


def test_training_resumes_to_the_same_weights_and_inversion_is_deterministic(tmp_path):
    G, features = tiny_gan(), tiny_features()
    images = person_like(8)
    config = EncoderConfig(channels=4, fpn_channels=8, steps=6, batch=4, log_every=3, val_images=4, iterations=2)
    whole = train_encoder(G, features, images, images[:4], config, tmp_path / "whole", "k", CPU, progress=False)
    half = EncoderConfig(**{**config.__dict__, "steps": 3})
    train_encoder(G, features, images, images[:4], half, tmp_path / "split", "k", CPU, progress=False)
    resumed = train_encoder(G, features, images, images[:4], config, tmp_path / "split", "k", CPU, progress=False)
    assert resumed.run == "resumed"
    for name, value in whole.encoder.state_dict().items():
        assert torch.equal(value, resumed.encoder.state_dict()[name]), name
    assert train_encoder(G, features, images, images[:4], config, tmp_path / "split", "k", CPU,
                         progress=False).run == "complete"
    assert train_encoder(G, features, images, images[:4], config, tmp_path / "split", "other", CPU,
                         progress=False).run == "fresh"
    first = invert(whole.encoder, G, images, 2, batch=3)
    assert torch.equal(first, invert(whole.encoder, G, images, 2, batch=3))
    assert torch.allclose(first, invert(whole.encoder, G, images, 2, batch=8), atol=1e-5)  # batching: rounding only


def test_saved_encoder_loads_only_for_its_generator(tmp_path):
    G = tiny_gan()
    config = EncoderConfig(channels=4, fpn_channels=8)
    encoder = build_encoder(config, G)
    save_encoder(encoder, config.__dict__, "digest-a", tmp_path / "encoder.pt")
    save_encoder(encoder, config.__dict__, "digest-a", tmp_path / "again.pt")
    assert (tmp_path / "encoder.pt").read_bytes() == (tmp_path / "again.pt").read_bytes()  # a rerun's bytes
    loaded, saved = load_encoder(tmp_path / "encoder.pt", G, "digest-a", CPU)
    assert saved["channels"] == 4
    images = person_like(2)
    assert torch.equal(invert(loaded, G, images, 2), invert(encoder, G, images, 2))
    with pytest.raises(ReidError, match="another GAN snapshot"):
        load_encoder(tmp_path / "encoder.pt", G, "digest-b", CPU)
    with pytest.raises(ReidError, match="encoder not found"):
        load_encoder(tmp_path / "missing.pt", G, "digest-a", CPU)


def write_snapshot(path, cfg="stylegan2"):
    """A GAN snapshot as train_gan writes it (G_ema + its `gan:` settings), tiny and 2:1."""
    settings = {**TINY, "cfg": cfg, "resolution": 16, "width": 8}
    torch.save({"G_ema": tiny_gan(cfg, 16, 8).state_dict(), "config": settings}, path)
    return path


@pytest.fixture(scope="module")
def pipeline_inputs(tmp_path_factory):
    """Prepared Market-style data, a tiny GAN snapshot and a tiny re-ID model: what train_encoder reads."""
    from conftest import make_market_tree

    from reid.models.baseline import save_model
    from reid.pipeline.prepare import run_prepare

    root = tmp_path_factory.mktemp("inputs")
    market = make_market_tree(root / "market", train_ids=(1, 2, 3, 4), test_ids=(10, 11, 12))
    run_prepare({"source": "market1501", "market1501_root": str(market)}, root / "prepared", progress=False)
    torch.manual_seed(3)
    settings = {"arch": "resnet18", "bottleneck": 32, "dropout": 0.5, "height": 32, "width": 16}
    save_model(ReidNet("resnet18", 4, bottleneck=32), settings, [1, 2, 3, 4], {}, root / "model.pt")
    return {"data": root / "prepared", "snapshot": write_snapshot(root / "snapshot.pt"), "reid_model": root / "model.pt"}


ENCODER_PARAMS = {"channels": 4, "fpn_channels": 8, "steps": 4, "batch": 4, "log_every": 2, "val_images": 4,
                  "grid_pairs": 2}
DETECTOR = {"backend": "hog", "threshold": 0.0}


def test_train_encoder_stage_measures_held_out_queries_and_resumes(pipeline_inputs, tmp_path):
    import json

    import pandas as pd
    from PIL import Image

    from reid.pipeline.train_encoder import run_encoder_training

    def run():
        return run_encoder_training(ENCODER_PARAMS, DETECTOR, {"batch": 4}, output=tmp_path / "encoder",
                                    checkpoints=tmp_path / "checkpoints", metrics_dir=tmp_path / "metrics",
                                    progress=False, **pipeline_inputs)

    summary = run()
    assert summary["run"] == "fresh" and summary["held_out_images"] == 3
    assert json.loads((tmp_path / "metrics/encoder.json").read_text()) == summary
    assert "not LPIPS" in summary["perceptual_backbone"] and summary["identity_backbone"] == "reid-resnet18"
    assert 0 <= summary["detector_acceptance"] <= 1 and -1 <= summary["ssim"] <= 1
    assert 0 <= summary["reconstructed_queries"]["rank1"] <= 1 and summary["l2"] > 0
    log = pd.read_csv(tmp_path / "metrics/encoder_log.tsv", sep="\t")
    assert list(log.step) == [2, 4] and "val_identity" in log.columns
    assert (tmp_path / "metrics/encoder_curves.png").read_bytes().startswith(b"\x89PNG")
    with Image.open(tmp_path / "encoder/reconstructions.png") as sheet:
        assert sheet.size == (4 * 64, 128)  # two real / reconstruction pairs of 128x64
    again = run()
    assert again["run"] == "complete" and again["l2"] == summary["l2"]
    from reid.provenance import file_digest

    G = tiny_gan()
    encoder, saved = load_encoder(tmp_path / "encoder/encoder.pt", G, file_digest(pipeline_inputs["snapshot"]), CPU)
    assert saved["steps"] == 4 and encoder.num_ws == G.num_ws


def test_variation_plan_keeps_pid_and_camera_and_is_per_identity():
    import pandas as pd

    from reid.gan.mixing import GenerationConfig
    from reid.gan.variations import InvertConfig, plan_variations

    sources = pd.DataFrame({"source": ["b/0001_c1.jpg", "b/0001_c4.jpg", "b/0002_c2.jpg"], "pid": [1, 1, 2],
                            "camid": [1, 4, 2]})
    gen = GenerationConfig()
    plan = plan_variations(sources, InvertConfig(variations_per_person=10, seed=3), gen)
    assert len(plan) == 20 and plan.groupby("pid").size().tolist() == [10, 10]
    ones = plan[plan.pid == 1]
    assert list(ones.source[:4]) == ["b/0001_c1.jpg", "b/0001_c4.jpg"] * 2  # the identity's images in turn
    assert list(ones.camid[:2]) == [1, 4] and ones.file.iloc[1].endswith("/0001/0001_c4s1_000001_00.jpg")
    assert ones.group.value_counts().to_dict() == {"middle": 5, "fine": 3, "interpolate": 2}
    assert (plan.weight[plan.group == "interpolate"] <= gen.interpolation).all()
    alone = plan_variations(sources[sources.pid == 2], InvertConfig(variations_per_person=10, seed=3), gen)
    assert alone.reset_index(drop=True).equals(plan[plan.pid == 2].reset_index(drop=True))


def test_invert_stage_writes_screened_variations_deterministically(pipeline_inputs, tmp_path):
    import json

    import numpy as np
    import pandas as pd

    from reid.data.assemble import read_generated_set
    from reid.data.shards import read_image_bytes
    from reid.pipeline.invert import run_invert
    from reid.provenance import file_digest

    G = tiny_gan()
    save_encoder(build_encoder(EncoderConfig(channels=4, fpn_channels=8, iterations=2), G),
                 {"channels": 4, "fpn_channels": 8, "iterations": 2}, file_digest(pipeline_inputs["snapshot"]),
                 tmp_path / "encoder.pt")
    filters = {"detector": {"backend": "hog", "threshold": -1.0}, "ssim": {"threshold": 0.1}}

    def run(name):
        return run_invert({"variations_per_person": 7, "grid_persons": 2}, {"persons": 1}, filters, {"batch": 5},
                          pipeline_inputs["data"], pipeline_inputs["snapshot"], tmp_path / "encoder.pt",
                          tmp_path / name, tmp_path / f"metrics-{name}", progress=False)

    summary = run("a")
    assert summary["generated"] == 4 * 7 and summary["persons"] == 4
    assert summary["kept"] + summary["discarded_total"] == 28
    scores = pd.read_csv(tmp_path / "a/scores.csv", keep_default_na=False)
    assert ((scores.verdict == "detector") == (scores.detector_score < -1.0)).all()
    assert ((scores.verdict == "ssim") == ((scores.detector_score >= -1.0) & (scores.ssim < 0.1))).all()
    prepared = pd.read_csv(pipeline_inputs["data"] / "index.csv")
    source_pid = dict(zip(prepared.path, prepared.pid))
    assert all(source_pid[s] == p for s, p in zip(scores.source, scores.pid))  # a variation stays its source's person
    assert all(source_pid[d] == p for d, p in zip(scores.donor, scores.pid))  # and mixes with that person's images
    assert summary["refine_steps"] == 100 and summary["donors"] == "identity"
    assert set(summary["reconstruction_refined"]) == {"ssim_median", "detector_acceptance"}
    kept = read_generated_set(tmp_path / "a", tmp_path / "a", "run invert")
    assert all(".tar/" in f for f in kept.file)  # the variations live in shards
    assert len(kept) == summary["kept"] and set(kept.pid) <= set(prepared.pid[prepared.split == "train"])
    table = pd.read_csv(tmp_path / "metrics-a/invert_table.tsv", sep="\t")
    assert table.images_discarded.iloc[-1] == summary["discarded_total"]
    assert json.loads((tmp_path / "metrics-a/invert.json").read_text()) == summary
    assert (tmp_path / "a/grid.png").is_file()
    run("b")
    for file in scores.file:
        assert read_image_bytes(tmp_path / "a" / file) == read_image_bytes(tmp_path / "b" / file)
    assert np.array_equal(pd.read_csv(tmp_path / "b/scores.csv").ssim, scores.ssim)


@pytest.fixture(scope="module")
def cli_inputs(pipeline_inputs, tmp_path_factory):
    """A folder of three 128x64 person images (two Market names, one plain) and an encoder for the tiny snapshot."""
    from conftest import write_jpeg

    from reid.provenance import file_digest

    root = tmp_path_factory.mktemp("cli")
    for k, name in enumerate(["0007_c2s1_000100_00.jpg", "0007_c5s2_000200_01.jpg", "walker.jpg"]):
        write_jpeg(root / "people" / name, seed=k)
    save_encoder(build_encoder(EncoderConfig(channels=4, fpn_channels=8), tiny_gan()),
                 {"channels": 4, "fpn_channels": 8, "iterations": 2}, file_digest(pipeline_inputs["snapshot"]),
                 root / "encoder.pt")
    return {"input": root / "people", "snapshot": pipeline_inputs["snapshot"], "encoder": root / "encoder.pt"}


def reid_generate(inputs: dict, output, *extra, cwd):
    """`reid generate --input ...` in this process (a subprocess per case would cost seconds of imports)."""
    from typer.testing import CliRunner

    from reid.cli import app

    args = ["generate", "--input", str(inputs["input"]), "--output", str(output), "--snapshot", str(inputs["snapshot"]),
            "--encoder", str(inputs["encoder"]), "--no-progress", "--params", str(cwd / "none.yaml"), *extra]
    return CliRunner().invoke(app, args)


def test_cli_generate_input_writes_variations_of_each_image_deterministically(cli_inputs, tmp_path):
    import pandas as pd

    done = reid_generate(cli_inputs, tmp_path / "out", "--per-image", "2", cwd=tmp_path)
    assert done.exit_code == 0, done.output
    manifest = pd.read_csv(tmp_path / "out/manifest.csv", keep_default_na=False)
    assert sorted(manifest.file) == ["0007_c2s1_000000_00.jpg", "0007_c2s1_000001_00.jpg", "0007_c5s1_000002_00.jpg",
                                     "0007_c5s1_000003_00.jpg", "walker_000.jpg", "walker_001.jpg"]
    assert list(manifest.source) == ["0007_c2s1_000100_00.jpg"] * 2 + ["0007_c5s2_000200_01.jpg"] * 2 + ["walker.jpg"] * 2
    # the two images of person 7 are each other's donors; the plain name is a person of its own (seeds)
    assert list(manifest.donor) == ["0007_c5s2_000200_01.jpg"] * 2 + ["0007_c2s1_000100_00.jpg"] * 2 + [""] * 2
    assert list(manifest.seed[:4]) == [-1] * 4 and (manifest.seed[4:] >= 0).all()
    assert reid_generate(cli_inputs, tmp_path / "again", "--per-image", "2", cwd=tmp_path).exit_code == 0
    for file in manifest.file:
        assert (tmp_path / "out" / file).read_bytes() == (tmp_path / "again" / file).read_bytes()


@pytest.mark.parametrize("case, message", [
    ("empty", "{input}: no images in the input folder"),
    ("text", "{input}/notes.txt: not an image file"),
    ("truncated", "{input}/0001_c1s1_000001_00.jpg: corrupt or truncated image"),
    ("wrong size", "{input}/0001_c1s1_000001_00.jpg: size 32x64 (WxH) is not 64x128; refused"),
    ("no snapshot", "{snapshot}: GAN snapshot not found"),
    ("no encoder", "{encoder}: encoder not found"),
    ("output not empty", "{output}: output folder exists and is not empty"),
])
def test_cli_generate_input_errors_are_one_line_and_write_nothing(cli_inputs, tmp_path, case, message):
    from conftest import write_jpeg

    inputs = {**cli_inputs, "input": tmp_path / "in"}
    (tmp_path / "in").mkdir()
    if case != "empty":
        write_jpeg(tmp_path / "in/0001_c1s1_000001_00.jpg", 1, size=(32, 64) if case == "wrong size" else (64, 128))
    if case == "text":
        (tmp_path / "in/notes.txt").write_text("not a picture")
    if case == "truncated":
        data = (tmp_path / "in/0001_c1s1_000001_00.jpg").read_bytes()
        (tmp_path / "in/0001_c1s1_000001_00.jpg").write_bytes(data[: len(data) // 2])
    if case == "no snapshot":
        inputs["snapshot"] = tmp_path / "missing.pt"
    if case == "no encoder":
        inputs["encoder"] = tmp_path / "missing-encoder.pt"
    output = tmp_path / "out"
    if case == "output not empty":
        output.mkdir()
        (output / "mine.txt").write_text("keep me")
    done = reid_generate(inputs, output, cwd=tmp_path)
    expected = message.format(input=inputs["input"], snapshot=inputs["snapshot"], encoder=inputs["encoder"],
                              output=output)
    assert done.exit_code == 2 and done.stderr.startswith(f"error: {expected}"), done.output
    assert len(done.stderr.strip().splitlines()) == 1
    if case == "output not empty":
        assert [p.name for p in output.iterdir()] == ["mine.txt"]
    else:
        assert not output.exists()


def test_cli_generate_input_finds_the_pipeline_snapshot_and_encoder_after_dvc_repro(cli_inputs, tmp_path, monkeypatch):
    """The issue's bare `reid generate --input ... --output ... --per-image N` after `dvc repro` (no runs/ of its own)."""
    import shutil

    from typer.testing import CliRunner

    from reid.cli import app

    for source, target in ((cli_inputs["snapshot"], "data/gan_eval/network.pt"),
                           (cli_inputs["encoder"], "data/encoder/encoder.pt")):
        (tmp_path / target).parent.mkdir(parents=True)
        shutil.copy(source, tmp_path / target)
    monkeypatch.chdir(tmp_path)
    bare = CliRunner().invoke(app, ["generate", "--input", str(cli_inputs["input"]), "--output", "bare", "--per-image",
                                    "1", "--no-progress", "--params", "none.yaml"])
    assert bare.exit_code == 0, bare.output
    assert reid_generate(cli_inputs, tmp_path / "explicit", "--per-image", "1", cwd=tmp_path).exit_code == 0
    for file in (tmp_path / "explicit").glob("*.jpg"):
        assert (tmp_path / "bare" / file.name).read_bytes() == file.read_bytes()
    (tmp_path / "runs/gan").mkdir(parents=True)  # a CLI run of its own comes first
    (tmp_path / "runs/gan/snapshot.pt").write_bytes(b"not a snapshot")
    own = CliRunner().invoke(app, ["generate", "--input", str(cli_inputs["input"]), "--output", "own",
                                   "--no-progress", "--params", "none.yaml"])
    assert own.exit_code == 2 and own.stderr.startswith("error: runs/gan/snapshot.pt: "), own.output


def test_refine_lowers_the_reconstruction_error_per_image_whatever_the_batch():
    from reid.gan.projector import refine

    G = tiny_gan()
    weights = {k: v.clone() for k, v in G.state_dict().items()}
    target = G.synthesis(G.mapping(torch.randn(4, 16, generator=torch.Generator().manual_seed(5)))).detach()
    start = G.mapping.w_avg.view(1, 1, -1).repeat(4, G.num_ws, 1)

    def error(ws):
        return (G.synthesis(ws) - target).square().mean((1, 2, 3))

    refined = refine(G, target, start, steps=30, lr=0.05, batch=4, progress=False)
    assert refined.shape == start.shape and (error(refined) < 0.5 * error(start)).all()
    in_pairs = refine(G, target, start, steps=30, lr=0.05, batch=2, progress=False)
    assert torch.allclose(in_pairs, refined, atol=1e-4)  # an image's code does not depend on its batch mates
    assert torch.equal(refine(G, target, start, steps=30, lr=0.05, batch=4, progress=False), refined)
    assert refine(G, target, start, steps=0, lr=0.05) is start
    assert all(torch.equal(v, weights[k]) for k, v in G.state_dict().items())  # only the codes moved


def test_variation_donors_are_the_persons_other_images_in_turn():
    import pandas as pd

    from reid.gan.mixing import GenerationConfig
    from reid.gan.variations import InvertConfig, plan_variations

    names = ["b/0001_c1.jpg", "b/0001_c2.jpg", "b/0001_c3.jpg", "b/0002_c2.jpg"]
    sources = pd.DataFrame({"source": names, "pid": [1, 1, 1, 2], "camid": [1, 2, 3, 2]})
    plan = plan_variations(sources, InvertConfig(variations_per_person=12, seed=3), GenerationConfig())
    ones = plan[plan.pid == 1]
    assert (ones.donor != ones.source).all() and set(ones.donor) == set(names[:3]) and (ones.seed == -1).all()
    # the first two turns pair each image with each other image once
    pairs = list(zip(ones.source[:6], ones.donor[:6]))
    assert sorted(pairs) == sorted((a, b) for a in names[:3] for b in names[:3] if a != b)
    alone = plan[plan.pid == 2]  # a single image has no donor: its variations mix with seeds, as `gen` does
    assert (alone.donor == "").all() and (alone.seed >= 0).all()
    seeded = plan_variations(sources, InvertConfig(variations_per_person=12, seed=3, donors="seeds"), GenerationConfig())
    assert (seeded.donor == "").all() and seeded.drop(columns=["donor", "seed"]).equals(plan.drop(columns=["donor", "seed"]))
    for bad in ({"donors": "friends"}, {"refine_steps": -1}, {"refine_lr": 0}):
        with pytest.raises(ReidError, match="params: invert"):
            InvertConfig(**bad)


def test_a_variation_takes_its_group_from_its_donor_or_its_seed():
    import pandas as pd

    from reid.gan.mixing import latent_from_seed
    from reid.gan.variations import vary

    G = tiny_gan()
    source, donor = torch.randn(2, G.num_ws, G.w_dim), torch.randn(2, G.num_ws, G.w_dim)
    rows = pd.DataFrame({"donor": ["b/0001_c2.jpg", ""], "seed": [-1, 11], "group": ["fine", "fine"],
                         "layers": ["12 13 14 15"] * 2, "psi": [1.0, 1.0], "weight": [1.0, 1.0]})
    ws = vary(G, source, donor, rows, CPU)
    assert torch.equal(ws[0, 12:], donor[0, 12:]) and torch.equal(ws[0, :12], source[0, :12])
    seed_w = G.mapping(latent_from_seed(11, G.z_dim)[None], truncation_psi=1.0)
    assert torch.allclose(ws[1, 12:], seed_w[0, 12:]) and torch.equal(ws[1, :12], source[1, :12])
