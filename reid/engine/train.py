"""Re-ID training: the thesis recipe with checkpoints that a rerun resumes from.

Cross-entropy over training identities (an image marked `uniform`, a
generated one under LSRO, is trained towards the uniform distribution over
the classes instead), SGD (momentum 0.9, Nesterov, weight
decay 5e-4) with a slower backbone learning rate, learning rate x0.1 at 2/3 of
the epochs, pad + random crop + flip.  Each epoch is validated on the held-out
image of every identity (loss and top-1 error, thesis Fig 5.17).

A checkpoint stores model, optimiser, scheduler, the augmentation generator
and the history, so an interrupted run continued from it gives the same
weights as an uninterrupted one.  It also stores the run's resume key
(params, training files, code, loaded weights): a checkpoint with another
key is ignored and training starts afresh.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from reid.data.images import augment, load_images, normalize
from reid.device import pick_device
from reid.errors import ReidError
from reid.io import claim_run_dir, load_torch_file, save_torch_file
from reid.models.baseline import ReidNet, load_pretrained
from reid.progress import log, progress_bar

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

    def __post_init__(self):
        for name in ("epochs", "batch_size", "height", "width", "bottleneck"):
            if getattr(self, name) < 1:
                raise ReidError(f"params: reid.{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ReidError("params: reid.batch_size must be >= 2 (BatchNorm needs two samples)")

    @property
    def lr_step_epoch(self) -> int:
        return max(1, round(self.epochs * self.lr_step_fraction))



@dataclass
class TrainResult:
    model: ReidNet
    classes: list[int]
    history: list[dict]
    info: dict  # arch, pretrained, device, num_classes, run (fresh | resumed | complete); the init file's format


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


def label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; a label of -1 (LSRO) means a uniform target: the mean of -log p over the classes."""
    uniform = labels < 0
    if not uniform.any():
        return F.cross_entropy(logits, labels)
    log_p = F.log_softmax(logits, dim=1)
    labelled = -log_p.gather(1, labels.clamp(min=0)[:, None])[:, 0]
    return torch.where(uniform, -log_p.mean(dim=1), labelled).mean()


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
    total_loss, correct, seen, labelled = 0.0, 0, 0, 0
    progress = progress_bar(batches, desc=desc, unit="batch", leave=False, disable=not desc)
    for batch in progress:
        pixels = augment(images[batch], config.pad, generator) if training else images[batch]
        inputs, targets = normalize(pixels, device), labels[batch].to(device)
        with torch.set_grad_enabled(training):
            logits = model(inputs)
            loss = label_loss(logits, targets)
        if training:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        total_loss += loss.item() * len(batch)
        correct += (logits.argmax(1) == targets).sum().item()  # a uniform target (-1) is never hit
        seen += len(batch)
        labelled += (targets >= 0).sum().item()
        progress.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / max(labelled, 1):.3f}", refresh=False)
    return total_loss / seen, 1.0 - correct / max(labelled, 1)


def train_reid(
    train: pd.DataFrame,
    val: pd.DataFrame,
    config: TrainConfig,
    checkpoint_dir: str | Path,
    key: str,
    device: str = "auto",
    checkpoint_every: int = 5,
    progress: bool = True,
    on_epoch=None,
    synthetic_model: Path | None = None,
) -> TrainResult:
    """Train on `train` rows (path, pid[, uniform]), validate on `val`; resume from `checkpoint_dir` if its key is `key`.

    The classes are the pids of the rows not marked `uniform` (a boolean
    column, absent = none); marked rows train towards the uniform
    distribution over the classes (LSRO).

    `on_epoch(history)` is called after every epoch (the stage writes its
    curves there, so a long run can be watched). `synthetic_model` is the
    file that `pretrained: synthetic` starts from.
    """
    if checkpoint_every < 1:
        raise ReidError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    if len(train) < config.batch_size:
        raise ReidError(f"only {len(train)} training images, fewer than reid.batch_size={config.batch_size}")
    device = pick_device(device)
    uniform = train["uniform"].astype(bool) if "uniform" in train.columns else pd.Series(False, index=train.index)
    classes = sorted(int(p) for p in train.pid[~uniform].unique())
    if not classes:
        raise ReidError("no training image has a class label")
    class_of = {pid: i for i, pid in enumerate(classes)}
    unknown_val = sorted(set(int(p) for p in val.pid) - set(classes))
    if unknown_val:
        raise ReidError(f"validation pid {unknown_val[0]} has no training image")

    train_images = load_images(list(train.path), config.height, config.width, progress, "load train")
    val_images = load_images(list(val.path), config.height, config.width, progress, "load val")
    train_labels = torch.tensor([-1 if u else class_of[int(p)] for p, u in zip(train.pid, uniform)])
    val_labels = torch.tensor([class_of[int(p)] for p in val.pid])

    torch.manual_seed(config.seed)
    model = ReidNet(config.arch, len(classes), config.bottleneck, config.dropout)
    info = {"arch": config.arch, "pretrained": False, "device": str(device), "num_classes": len(classes)}
    if config.pretrained:
        info.update(load_pretrained(model, config.pretrained, synthetic_model))
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

    checkpoint_path = claim_run_dir(checkpoint_dir) / CHECKPOINT_NAME
    start_epoch, info["run"] = 0, "fresh"
    if checkpoint_path.is_file():
        state = load_torch_file(checkpoint_path, "checkpoint (delete it to start afresh)")
        if state.get("fingerprint") == key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            generator.set_state(state["generator"])
            _set_global_rng(state["global_rng"], device)
            history = list(state["history"])
            start_epoch = len(history)
            info["run"] = "complete" if start_epoch >= config.epochs else "resumed"
            log(f"resuming from {checkpoint_path} after epoch {start_epoch}")
        else:
            log(f"starting afresh: {checkpoint_path} was made with other params, data, code or weights")

    epochs = progress_bar(range(start_epoch, config.epochs), desc="epochs", unit="epoch", disable=not progress)
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
        epochs.set_postfix(loss=f"{train_loss:.3f}", val_err=f"{val_err:.3f}", refresh=False)
        if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == config.epochs:
            state = {
                "fingerprint": key,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "global_rng": _global_rng(device),
                "history": history,
            }
            save_torch_file(state, checkpoint_path)
        if on_epoch is not None:
            on_epoch(history)
    return TrainResult(model, classes, history, info)
