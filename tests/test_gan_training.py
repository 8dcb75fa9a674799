"""GAN training loop: it learns a trivial data set, resumes exactly, transfers tensors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reid.errors import ReidError
from reid.gan.sampling import load_generator, network_file
from reid.gan.training import SNAPSHOT, GanConfig, build_networks, train_gan, transfer

TINY = dict(cfg="T", resolution=16, channel_base=256, channel_max=16, z_dim=16, w_dim=16, batch=8, gamma=0.5,
            tick_kimg=0.016, snap=2, lr_g=0.005, lr_d=0.004)


def _train(images, config, folder, key="fp"):
    return train_gan(images, config, folder, key, "cpu", progress=False)


def constant_people(n=32, colour=(200, 40, 40)) -> torch.Tensor:
    """The most trivial data set: every image the same colour."""
    return torch.tensor(colour, dtype=torch.uint8).view(1, 3, 1, 1).repeat(n, 1, 128, 64)


def _colour_error(G, target):
    with torch.no_grad():
        images = G(torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(5)))
    return (images.mean([0, 2, 3]) - target).abs().mean().item()


def test_training_moves_generator_towards_the_data(tmp_path):
    config = GanConfig(**{**TINY, "snap": 5}, kimg=0.4, ema_kimg=0.02)  # short EMA half-life for a short run
    target = torch.tensor([200, 40, 40]) / 127.5 - 1
    torch.manual_seed(config.seed)
    G0, _ = build_networks(config)
    before = _colour_error(G0.eval(), target)
    result = _train(constant_people(), config, tmp_path)
    after = _colour_error(result.G_ema, target)
    print(f"mean colour error: {before:.3f} -> {after:.3f}")
    assert after < 0.5 * before
    assert result.history[-1]["kimg"] == pytest.approx(0.4, abs=0.008)
    assert (tmp_path / SNAPSHOT).is_file() and len(list(tmp_path.glob(network_file(None)))) == 5


def test_interrupted_run_resumes_from_snapshot_exactly(tmp_path, monkeypatch):
    config = GanConfig(**TINY, kimg=0.096)
    images = constant_people()
    straight = _train(images, config, tmp_path / "a")

    class Killed(Exception):
        pass

    saves, save = [], torch.save

    def killed_at_second_snapshot(obj, path):
        saves.append(path)
        if len(saves) == 3:  # each snapshot saves the network file, then the resumable state
            raise Killed
        save(obj, path)

    monkeypatch.setattr(torch, "save", killed_at_second_snapshot)
    with pytest.raises(Killed):
        _train(images, config, tmp_path / "b")
    monkeypatch.setattr(torch, "save", save)
    resumed = _train(images, config, tmp_path / "b")
    assert resumed.run == "resumed" and straight.run == "fresh"
    assert [row["kimg"] for row in resumed.history] == [row["kimg"] for row in straight.history]
    for (name, a), b in zip(straight.G_ema.state_dict().items(), resumed.G_ema.state_dict().values()):
        assert torch.equal(a, b), name
    assert not [p for p in (tmp_path / "b").iterdir() if ".tmp" in p.name]  # no crash debris left behind
    for network in sorted((tmp_path / "a").glob(network_file(None))):  # the same bytes, so DVC reruns no reader
        assert network.read_bytes() == (tmp_path / "b" / network.name).read_bytes(), network.name
    other = _train(images, dataclasses.replace(config, seed=1), tmp_path / "b", "other")
    assert other.run == "fresh" and other.history[0]["kimg"] == pytest.approx(0.016)


def test_longer_run_extends_shorter_one_restarts_and_metrics_say_which(tmp_path):
    """Defect: lowering kimg reported the old run; every call now says fresh, extended, complete or resumed."""
    images = constant_people()
    short = _train(images, GanConfig(**TINY, kimg=0.032), tmp_path)
    assert short.run == "fresh" and len(list(tmp_path.glob(network_file(None)))) == 1
    longer = _train(images, GanConfig(**TINY, kimg=0.064), tmp_path)
    assert longer.run == "extended" and [r["kimg"] for r in longer.history] == [0.016, 0.032, 0.048, 0.064]
    assert _train(images, GanConfig(**TINY, kimg=0.064), tmp_path).run == "complete"
    again = _train(images, GanConfig(**TINY, kimg=0.032), tmp_path)
    assert again.run == "fresh" and again.history[-1]["kimg"] == 0.032
    assert [p.name for p in tmp_path.glob(network_file(None))] == [network_file(32)]  # the 0.064 files are gone


def test_snapshot_loads_as_generator_and_transfers(tmp_path):
    config = GanConfig(**TINY, kimg=0.016)
    result = _train(constant_people(), config, tmp_path)
    G, saved = load_generator(tmp_path / SNAPSHOT, torch.device("cpu"))
    assert saved["resolution"] == 16
    for a, b in zip(G.state_dict().values(), result.G_ema.state_dict().values()):
        assert torch.equal(a, b)

    fresh, _ = build_networks(config)
    tensors = dict(result.G_ema.state_dict())
    tensors["mapping.fc0.weight"] = torch.zeros(3, 3)
    report = transfer(fresh, tensors)
    assert report["shape_mismatch"] == ["mapping.fc0.weight"]
    assert report["transferred"] == len(tensors) - 1 and report["reinitialised"] == 1
    assert torch.equal(fresh.synthesis.input.freqs, result.G_ema.synthesis.input.freqs)

    resumed = _train(constant_people(), dataclasses.replace(config, resume=str(tmp_path / SNAPSHOT)),
                     tmp_path / "transfer", "t")
    assert resumed.transfer_report["transferred"] == len(tensors) and resumed.transfer_report["reinitialised"] == 0


def test_bad_gan_inputs(tmp_path):
    with pytest.raises(ReidError, match="gan.batch must be >= 2"):
        GanConfig(batch=1)
    with pytest.raises(ReidError, match="fewer than gan.batch=8"):
        _train(constant_people(4), GanConfig(**TINY), tmp_path)
    (tmp_path / "x.pt").write_bytes(b"nope")
    with pytest.raises(ReidError, match="x.pt: not a loadable GAN snapshot"):
        load_generator(tmp_path / "x.pt", torch.device("cpu"))


def test_person_shaped_stylegan2_with_diffaugment_trains_and_stops_at_its_time_budget(tmp_path):
    config = GanConfig(**{**TINY, "cfg": "stylegan2", "resolution": 32, "width": 16, "gamma": -1,
                          "augment": "color,translation,cutout"}, kimg=100)
    result = train_gan(constant_people(), config, tmp_path, "fp", "cpu", progress=False, max_seconds=1e-9)
    assert result.history[-1]["kimg"] == pytest.approx(0.008)  # one step, then out of time
    G, saved = load_generator(tmp_path / SNAPSHOT, torch.device("cpu"))
    assert saved["width"] == 16 and G(torch.randn(2, 16)).shape == (2, 3, 32, 16)
    assert [p.name for p in tmp_path.glob(network_file(None))] == [network_file(8)]
    with pytest.raises(ReidError, match="unknown transform"):
        GanConfig(augment="colour")


def test_published_run_is_the_snapshot_and_networks_and_never_replaces_a_foreign_folder(tmp_path):
    """The stage's DVC output is a copy of the run folder (which stays, to resume from), minus the run's debris."""
    from reid.io import OUTPUT_MARKER
    from reid.pipeline.train_gan import publish_run

    run_dir = tmp_path / "runs" / "train_gan"
    _train(constant_people(16), GanConfig(**{**TINY, "kimg": 0.064}), run_dir)
    (run_dir / "notes.txt").write_text("not part of the run")
    publish_run(run_dir, tmp_path / "data" / "gan")
    published = sorted(p.name for p in (tmp_path / "data" / "gan").iterdir())
    networks = sorted(p.name for p in run_dir.glob(network_file(None)))
    assert len(networks) == 2 and published == sorted([OUTPUT_MARKER, SNAPSHOT, *networks])
    assert (tmp_path / "data/gan" / SNAPSHOT).read_bytes() == (run_dir / SNAPSHOT).read_bytes()
    assert (run_dir / SNAPSHOT).is_file()  # still there for the next run to resume

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.pdf").write_text("keep me")
    with pytest.raises(ReidError, match="mine"):
        publish_run(run_dir, foreign)
    assert [p.name for p in foreign.iterdir()] == ["thesis.pdf"]


def test_learning_rate_rampdown_follows_a_half_cosine_to_zero_and_makes_kimg_part_of_the_key(tmp_path):
    config = GanConfig(**TINY, kimg=0.064, lr_rampdown=0.5)
    assert [config.lr_scale(n) for n in (0, 32)] == [1.0, 1.0]
    assert config.lr_scale(48) == pytest.approx(0.5) and config.lr_scale(64) == pytest.approx(0.0)
    assert GanConfig(**TINY).lr_scale(10**9) == 1.0
    assert "kimg" in config.fingerprint_fields() and "kimg" not in GanConfig(**TINY).fingerprint_fields()
    _train(constant_people(), config, tmp_path)
    state = torch.load(tmp_path / SNAPSHOT, map_location="cpu", weights_only=False)
    last = config.lr_scale(64 - TINY["batch"])  # the last step's factor, 0.15
    assert state["opt_G"]["param_groups"][0]["lr"] == pytest.approx(TINY["lr_g"] * last)
    with pytest.raises(ReidError, match=r"gan.lr_rampdown must be a fraction of the run in \[0, 1\], got 1.5"):
        GanConfig(lr_rampdown=1.5)
