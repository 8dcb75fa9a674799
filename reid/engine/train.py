"""Re-ID training: the thesis recipe with checkpoints that a rerun resumes from.

Cross-entropy over training identities, SGD (momentum 0.9, Nesterov, weight
decay 5e-4) with a slower backbone learning rate, learning rate x0.1 at 2/3 of
the epochs, pad + random crop + flip.  Each epoch is validated on the held-out
image of every identity (loss and top-1 error, thesis Fig 5.17).

A checkpoint stores model, optimiser, scheduler, the augmentation generator
and the history, so an interrupted run continued from it gives the same
weights as an uninterrupted one.  It also stores a fingerprint of the config
and the training files: a checkpoint from other params or data is ignored.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from reid.data.images import augment, load_images, normalize
from reid.device import pick_device
from reid.errors import ReidError
from reid.io import atomic_path, load_torch_file, fingerprint as checkpoint_fingerprint
from reid.models.baseline import ReidNet, load_imagenet_weights

CHECKPOINT_NAME = "last.pt"


@dataclass(frozen=True)
class TrainConfig:
    """params.yaml `reid:` section; the defaults are the thesis recipe."""

    arch: str = "resnet50"
    pretrained: str = ""
    height: int = 256
    width: int = 128
    epochs: int = 60
    batch_size: int = 16
    lr_backbone: float = 0.005
    lr_classifier: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step_fraction: float = 2 / 3
    lr_gamma: float = 0.1
    bottleneck: int = 512
    dropout: float = 0.5
    pad: int = 10
    seed: int = 0
    checkpoint_every: int = 5
    device: str = "auto"

    def __post_init__(self):
        for name in ("epochs", "batch_size", "height", "width", "bottleneck", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ReidError(f"params: reid.{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ReidError("params: reid.batch_size must be >= 2 (BatchNorm needs two samples)")

    @property
    def lr_step_epoch(self) -> int:
        return max(1, round(self.epochs * self.lr_step_fraction))

    def fingerprint_fields(self) -> dict:
        """What changes the result; device and checkpoint cadence do not."""
        fields = dataclasses.asdict(self)
        for name in ("device", "checkpoint_every"):
            fields.pop(name)
        return fields


@dataclass
class TrainResult:
    model: ReidNet
    classes: list[int]
    history: list[dict]
    info: dict


def _global_rng(device: torch.device) -> list[torch.Tensor]:
    """Dropout draws from the global generators, so a resume must restore them too."""
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


def _set_global_rng(states: list[torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(states[0].cpu())
    if device.type == "cuda" and len(states) > 1:
        torch.cuda.set_rng_state(states[1].cpu(), device)


def _run_epoch(model, images, labels, config, device, optimizer=None, generator=None, desc=""):
    """One pass; with an optimizer it trains on shuffled augmented batches, else it evaluates."""
    training = optimizer is not None
    model.train(training)
    n = len(labels)
    if training:
        order = torch.randperm(n, generator=generator)
        batches = [order[i : i + config.batch_size] for i in range(0, n - config.batch_size + 1, config.batch_size)]
    else:
        batches = [torch.arange(i, min(i + 4 * config.batch_size, n)) for i in range(0, n, 4 * config.batch_size)]
    total_loss, correct, seen = 0.0, 0, 0
    progress = tqdm(batches, desc=desc, unit="batch", leave=False, disable=not desc)
    for batch in progress:
        pixels = augment(images[batch], config.pad, generator) if training else images[batch]
        inputs, targets = normalize(pixels, device), labels[batch].to(device)
        with torch.set_grad_enabled(training):
            logits = model(inputs)
            loss = F.cross_entropy(logits, targets)
        if training:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        total_loss += loss.item() * len(batch)
        correct += (logits.argmax(1) == targets).sum().item()
        seen += len(batch)
        progress.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    return total_loss / seen, 1.0 - correct / seen


def train_reid(
    train: pd.DataFrame,
    val: pd.DataFrame,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    progress: bool = True,
    on_epoch=None,
) -> TrainResult:
    """Train on `train` rows (path, pid), validate on `val`; resume from `checkpoint_dir` if it matches.

    `on_epoch(history)` is called after every epoch (the stage writes its
    curves there, so a long run can be watched).
    """
    if len(train) < config.batch_size:
        raise ReidError(f"only {len(train)} training images, fewer than reid.batch_size={config.batch_size}")
    device = pick_device(config.device)
    classes = sorted(int(p) for p in train.pid.unique())
    class_of = {pid: i for i, pid in enumerate(classes)}
    unknown_val = sorted(set(int(p) for p in val.pid) - set(classes))
    if unknown_val:
        raise ReidError(f"validation pid {unknown_val[0]} has no training image")

    fingerprint = checkpoint_fingerprint(config.fingerprint_fields(), list(train.path), list(train.pid))
    train_images = load_images(list(train.path), config.height, config.width, progress, "load train")
    val_images = load_images(list(val.path), config.height, config.width, progress, "load val")
    train_labels = torch.tensor([class_of[int(p)] for p in train.pid])
    val_labels = torch.tensor([class_of[int(p)] for p in val.pid])

    torch.manual_seed(config.seed)
    model = ReidNet(config.arch, len(classes), config.bottleneck, config.dropout)
    info = {"arch": config.arch, "pretrained": False, "device": str(device), "num_classes": len(classes)}
    if config.pretrained:
        info.update(load_imagenet_weights(model, config.pretrained))
        info["pretrained"] = True
    model.to(device)
    optimizer = torch.optim.SGD(
        model.param_groups(config.lr_backbone, config.lr_classifier),
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=True,
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step_epoch, gamma=config.lr_gamma)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []

    checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME
    start_epoch = 0
    if checkpoint_path.is_file():
        state = load_torch_file(checkpoint_path, "checkpoint (delete it to start afresh)")
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            _set_global_rng(state["global_rng"], device)
            history = list(state["history"])
            start_epoch = len(history)
            tqdm.write(f"resuming from {checkpoint_path} after epoch {start_epoch}")
        else:
            tqdm.write(f"ignoring {checkpoint_path}: it was made with other params or data")

    epochs = tqdm(range(start_epoch, config.epochs), desc="epochs", unit="epoch", disable=not progress)
    for epoch in epochs:
        started = time.perf_counter()
        lr = optimizer.param_groups[1]["lr"]
        train_loss, train_err = _run_epoch(
            model, train_images, train_labels, config, device, optimizer, generator, "train" if progress else ""
        )
        scheduler.step()
        val_loss, val_err = (math.nan, math.nan)
        if len(val_labels):
            val_loss, val_err = _run_epoch(model, val_images, val_labels, config, device)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "train_top1_err": train_err,
                "val_top1_err": val_err,
                "seconds": time.perf_counter() - started,
            }
        )
        epochs.set_postfix(loss=f"{train_loss:.3f}", val_err=f"{val_err:.3f}")
        if (epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs:
            state = {
                "fingerprint": fingerprint,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "global_rng": _global_rng(device),
                "history": history,
            }
            with atomic_path(checkpoint_path) as tmp:
                torch.save(state, tmp)
        if on_epoch is not None:
            on_epoch(history)
    return TrainResult(model, classes, history, info)


def save_model(result: TrainResult, config: TrainConfig, path: str | Path) -> None:
    """Weights plus what evaluation needs to rebuild the network, loadable with weights_only=True."""
    payload = {
        "state_dict": {k: v.cpu() for k, v in result.model.state_dict().items()},
        "config": dataclasses.asdict(config),
        "classes": result.classes,
        "info": result.info,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: str | Path, device: torch.device) -> tuple[ReidNet, dict]:
    """Rebuild a model saved by `save_model`; returns (model in eval mode, its saved config)."""
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: model file not found; run the train_reid stage (reid train) first")
    payload = load_torch_file(path, "re-ID model")
    try:
        config = payload["config"]
        model = ReidNet(config["arch"], len(payload["classes"]), config["bottleneck"], config["dropout"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ReidError(f"{path}: not a re-ID model saved by this project ({type(exc).__name__})") from None
    return model.to(device).eval(), config
