"""Training the W+ encoder against the frozen generator, resumable, with train and validation curves of every loss term.

Thesis §3.2.1 / Tables 5.7-5.8 report the pSp losses per iteration; here each
`log_every` steps records the mean of every term over those training steps
and over a fixed held-out set. A checkpoint at every record holds the
encoder, the optimiser, the batch generator and the history, under the
run's resume key (params, images, generator and re-ID files, code): an
interrupted run continues to the same weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reid.errors import ReidError
from reid.gan.encoder import (LOSS_TERMS, Encoder, LossWeights, ReidFeatures, invert_steps, reconstruction_losses,
                              weighted_total)
from reid.gan.generator import Generator
from reid.io import claim_run_dir, load_torch_file, save_torch_file
from reid.progress import log, progress_bar

CHECKPOINT_NAME = "last.pt"


@dataclass(frozen=True)
class EncoderConfig:
    """params.yaml `encoder:` section."""

    iterations: int = 1          # ReStyle refinement steps (1 = pSp: one pass from w_avg)
    channels: int = 32           # backbone width at the first level (x2, x4 below)
    fpn_channels: int = 64       # pyramid and map-to-style width
    steps: int = 600
    batch: int = 16
    lr: float = 0.0005           # Adam
    l2: float = 1.0              # loss weights (pSp: L2 1, LPIPS 0.8)
    perceptual: float = 0.8
    identity: float = 0.5
    w_norm: float = 0.005
    mirror: bool = True          # x-flip half of the training images
    log_every: int = 50          # steps between a curve point (and checkpoint)
    val_images: int = 64         # held-out images of the validation curve
    grid_pairs: int = 16         # real / reconstruction pairs in the sheet
    seed: int = 0

    def __post_init__(self):
        for name in ("iterations", "channels", "fpn_channels", "steps", "batch", "log_every", "val_images"):
            if getattr(self, name) < 1:
                raise ReidError(f"params: encoder.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", *LOSS_TERMS):
            if getattr(self, name) < 0:
                raise ReidError(f"params: encoder.{name} must be >= 0, got {getattr(self, name)}")

    @property
    def weights(self) -> LossWeights:
        return LossWeights(self.l2, self.perceptual, self.identity, self.w_norm)


def build_encoder(config: EncoderConfig, G: Generator) -> Encoder:
    return Encoder(G.num_ws, G.w_dim, config.channels, config.fpn_channels)


@dataclass
class EncoderResult:
    encoder: Encoder
    history: list[dict]
    run: str  # fresh | resumed | complete


@torch.no_grad()
def measure(encoder: Encoder, G: Generator, features: ReidFeatures, images: torch.Tensor, iterations: int,
            batch: int = 64) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Per-image loss terms of the final step and the reconstructions (CPU, generator size) of `images`."""
    encoder.eval()
    device = next(encoder.parameters()).device
    terms, reconstructions = {name: [] for name in LOSS_TERMS}, []
    for start in range(0, len(images), batch):
        target = images[start : start + batch].to(device)
        ws, reconstruction = invert_steps(encoder, G, target, iterations)[-1]
        for name, value in reconstruction_losses(target, reconstruction, ws, G.mapping.w_avg, features).items():
            terms[name].append(value.cpu())
        reconstructions.append(reconstruction.cpu())
    return {name: torch.cat(values).numpy() for name, values in terms.items()}, torch.cat(reconstructions)


def _record(step: int, train_sums: dict, count: int, val_terms: dict, weights: LossWeights, seconds: float) -> dict:
    row = {"step": step}
    for prefix, means in (("train", {k: v / max(count, 1) for k, v in train_sums.items()}),
                          ("val", {k: float(v.mean()) for k, v in val_terms.items()})):
        for name in LOSS_TERMS:
            row[f"{prefix}_{name}"] = means[name]
        row[f"{prefix}_total"] = sum(getattr(weights, name) * means[name] for name in LOSS_TERMS)
    row["seconds"] = seconds
    return row


def train_encoder(G: Generator, features: ReidFeatures, train_images: torch.Tensor, val_images: torch.Tensor,
                  config: EncoderConfig, run_dir: str | Path, key: str, device: torch.device,
                  progress: bool = True, on_record=None) -> EncoderResult:
    """Train on images in [-1, 1] at the generator's size (N, 3, H, W); G and `features` stay frozen.

    The training loss sums every ReStyle step's weighted terms (each step is
    trained to improve on the previous one); the curves record the last
    step's terms. `on_record(history)` runs after every curve point.
    """
    if len(train_images) < config.batch:
        raise ReidError(f"only {len(train_images)} training images, fewer than encoder.batch={config.batch}")
    torch.manual_seed(config.seed)
    encoder = build_encoder(config, G).to(device)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    history, step, run = [], 0, "fresh"
    checkpoint = claim_run_dir(run_dir) / CHECKPOINT_NAME
    if checkpoint.is_file():
        state = load_torch_file(checkpoint, "encoder checkpoint (delete it to start afresh)")
        if state.get("fingerprint") == key:
            encoder.load_state_dict(state["encoder"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            history, step = list(state["history"]), state["step"]
            run = "complete" if step >= config.steps else "resumed"
            log(f"resuming {checkpoint} from step {step}")
        else:
            log(f"starting afresh: {checkpoint} was made with other params, data, code or networks")

    weights, w_avg = config.weights, G.mapping.w_avg
    started = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    sums, count = {name: 0.0 for name in LOSS_TERMS}, 0
    bar = progress_bar(total=config.steps, initial=step, desc="train_encoder", unit="step", disable=not progress)
    while step < config.steps:
        encoder.train()
        batch = train_images[torch.randint(0, len(train_images), (config.batch,), generator=generator)]
        if config.mirror:
            flip = torch.rand(config.batch, generator=generator) < 0.5
            batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(3), batch)
        batch = batch.to(device)
        loss, terms = 0.0, {}
        with torch.no_grad():
            target_features = features(batch)
        for ws, reconstruction in invert_steps(encoder, G, batch, config.iterations):
            terms = reconstruction_losses(batch, reconstruction, ws, w_avg, features, target_features)
            loss = loss + weighted_total(terms, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        count += 1
        for name in LOSS_TERMS:
            sums[name] += terms[name].mean().item()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        if step % config.log_every == 0 or step == config.steps:
            val_terms, _ = measure(encoder, G, features, val_images, config.iterations, config.batch * 4)
            history.append(_record(step, sums, count, val_terms, weights, time.perf_counter() - started))
            sums, count = {name: 0.0 for name in LOSS_TERMS}, 0
            state = {"fingerprint": key, "encoder": encoder.state_dict(), "optimizer": optimizer.state_dict(),
                     "generator": generator.get_state(), "history": history, "step": step}
            save_torch_file(state, checkpoint)
            if on_record is not None:
                on_record(history)
    bar.close()
    return EncoderResult(encoder.eval(), history, run)
