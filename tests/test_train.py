"""Re-ID model and training loop: recipe details, determinism, resume, weights import."""

from __future__ import annotations

import pytest
import torch
import torchvision

import dataclasses

from reid.data.index import read_index
from reid.data.prepare import PrepareConfig, prepare_dataset
from reid.engine.features import extract_features
from reid.engine.train import CHECKPOINT_NAME, TrainConfig, train_reid
from reid.errors import ReidError
from reid.models.baseline import ReidNet, load_model, load_pretrained, save_model
from reid.pipeline import common
from reid.pipeline.train_reid import run_training

TINY = dict(arch="resnet18", height=32, width=16, epochs=3, batch_size=4)


def _train(train, val, config, folder, key="k", **options):
    return train_reid(train, val, config, folder, key, "cpu", 1, progress=False, **options)


@pytest.fixture
def prepared(market_root, tmp_path):
    prepare_dataset(PrepareConfig(source="market1501", market1501_root=str(market_root)), tmp_path / "p", False)
    index = read_index(tmp_path / "p")
    return index[index.split == "train"], index[index.split == "val"], index


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_model_shapes_and_bottleneck_feature():
    model = ReidNet("resnet18", num_classes=7).eval()
    images = torch.randn(3, 3, 64, 32)
    assert model(images).shape == (3, 7)
    assert model.features(images).shape == (3, 512)
    assert len(model.param_groups(0.005, 0.05)) == 2
    with pytest.raises(ReidError, match="reid.arch must be one of"):
        ReidNet("vgg16", 3)


def test_lr_step_at_two_thirds():
    assert TrainConfig(epochs=60).lr_step_epoch == 40
    assert TrainConfig(epochs=3, lr_step_fraction=0.6667).lr_step_epoch == 2


def test_training_is_deterministic_and_resumes_exactly(prepared, tmp_path):
    train, val, _ = prepared
    config = TrainConfig(**TINY)
    first = _train(train, val, config, tmp_path / "a")
    second = _train(train, val, config, tmp_path / "b")
    assert _same(_weights(first.model), _weights(second.model))
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert first.history[1]["lr"] == pytest.approx(0.05) and first.history[2]["lr"] == pytest.approx(0.005)

    class Killed(Exception):
        pass

    def kill_after_first_epoch(history):
        if len(history) == 1:
            raise Killed

    with pytest.raises(Killed):
        _train(train, val, config, tmp_path / "c", on_epoch=kill_after_first_epoch)
    assert (tmp_path / "c" / CHECKPOINT_NAME).is_file()
    resumed = _train(train, val, config, tmp_path / "c")
    assert resumed.info["run"] == "resumed" and first.info["run"] == "fresh"
    assert _same(_weights(first.model), _weights(resumed.model))
    timeless = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]  # noqa: E731
    assert timeless(resumed.history) == timeless(first.history)


def test_checkpoint_with_another_key_is_ignored(prepared, tmp_path, capsys):
    train, val, _ = prepared
    _train(train, val, TrainConfig(**TINY), tmp_path / "ck", key="a")
    again = _train(train, val, TrainConfig(**TINY), tmp_path / "ck", key="a")
    assert again.info["run"] == "complete" and len(again.history) == 3
    other = _train(train, val, TrainConfig(**TINY), tmp_path / "ck", key="b")
    assert other.info["run"] == "fresh" and len(other.history) == 3
    assert "starting afresh" in capsys.readouterr().out


def _stage_training(prepared_dir, tmp_path, values):
    return run_training({**TINY, **values}, {"device": "cpu", "checkpoint_every": 1}, prepared_dir,
                        tmp_path / "model.pt", tmp_path / "ck", tmp_path / "metrics", progress=False)


def test_a_code_change_or_new_weights_retrain_instead_of_reusing_the_checkpoint(prepared, tmp_path, monkeypatch):
    """Defect: a finished checkpoint survived a change of the training code or of reid.pretrained's bytes."""
    prepared_dir = tmp_path / "p"
    assert _stage_training(prepared_dir, tmp_path, {"epochs": 1})["run"] == "fresh"
    assert _stage_training(prepared_dir, tmp_path, {"epochs": 1})["run"] == "complete"
    digest = common.code_digest
    monkeypatch.setattr(common, "code_digest", lambda module: digest(module) + "-edited")
    assert _stage_training(prepared_dir, tmp_path, {"epochs": 1})["run"] == "fresh"

    weights = tmp_path / "imagenet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    first = _stage_training(prepared_dir, tmp_path, {"epochs": 1, "pretrained": str(weights)})
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)  # same path, other bytes
    second = _stage_training(prepared_dir, tmp_path, {"epochs": 1, "pretrained": str(weights)})
    assert first["run"] == second["run"] == "fresh"


def test_saved_model_round_trip_gives_same_features(prepared, tmp_path):
    train, val, index = prepared
    config = TrainConfig(**{**TINY, "epochs": 1})
    result = _train(train, val, config, tmp_path / "ck")
    save_model(result.model, dataclasses.asdict(config), result.classes, result.info, tmp_path / "model.pt")
    model, saved = load_model(tmp_path / "model.pt", torch.device("cpu"))
    assert saved["arch"] == "resnet18" and saved["height"] == 32
    paths = list(index[index.split == "query"].path)
    a = extract_features(result.model, paths, 32, 16, torch.device("cpu"))
    b = extract_features(model, paths, 32, 16, torch.device("cpu"))
    assert a.shape == (len(paths), 512)
    assert abs((a * a).sum(1) - 1).max() < 1e-5
    assert (a == b).all()


def test_the_same_model_saves_to_the_same_bytes(tmp_path):
    """Defect: torch.save named the archive inside after the random temporary file, so every save differed."""
    torch.manual_seed(0)
    model = ReidNet("resnet18", 3)
    for name in ("a.pt", "b.pt"):
        save_model(model, {"arch": "resnet18"}, [1, 2, 3], {}, tmp_path / name)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_imagenet_weights_import(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    model = ReidNet("resnet18", 5)
    report = load_pretrained(model, str(tmp_path / "resnet18.pth"))
    assert report["tensors_loaded"] == len(reference.state_dict()) - 2
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    with pytest.raises(ReidError, match="not resnet50 ImageNet weights"):
        load_pretrained(ReidNet("resnet50", 5), str(tmp_path / "resnet18.pth"))
    (tmp_path / "junk.pth").write_bytes(b"garbage")
    with pytest.raises(ReidError, match="junk.pth: not a loadable torch state dict"):
        load_pretrained(model, str(tmp_path / "junk.pth"))
    with pytest.raises(ReidError, match="weights file not found"):
        load_pretrained(model, str(tmp_path / "none.pth"))


def test_too_few_images_and_bad_model_file(prepared, tmp_path):
    train, val, _ = prepared
    with pytest.raises(ReidError, match="fewer than reid.batch_size=64"):
        _train(train, val, TrainConfig(**{**TINY, "batch_size": 64}), tmp_path)
    (tmp_path / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ReidError, match="model.pt: not a loadable re-ID model"):
        load_model(tmp_path / "model.pt", torch.device("cpu"))
