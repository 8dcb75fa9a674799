"""GAN training loop (StyleGAN2/3 recipe) with snapshots that a rerun resumes from.

- Non-saturating logistic loss (Goodfellow et al. 2014): G minimises
  softplus(-D(G(z))), D minimises softplus(D(G(z))) + softplus(-D(x)).
- DiffAugment (`augment` policy): D sees real and generated images, in the
  R1 pass too, only through the same differentiable random transforms.
- Lazy R1 (Mescheder et al. 2018; StyleGAN2 §3.1): every `r1_interval`
  minibatches D also minimises gamma/2 * |grad_x D(x)|^2, scaled by the
  interval; D's Adam lr and beta2 are adjusted by interval/(interval+1).
  gamma < 0 takes StyleGAN2-ADA's rule 0.0002 * H * W / batch.
- Adam with beta1 = 0, beta2 = 0.99; G EMA with a half-life of `ema_kimg`
  (default batch * 10/32 kimg, as StyleGAN3), capped at `ema_rampup` times
  the images seen so far. `lr_rampdown` > 0: both learning rates fall to 0
  along a half cosine over the run's last fraction (a fixed budget's usual
  schedule; at 112 kimg it lowered FID by 5-16% in three pairs of trials, t34-t39).
- Progress is counted in images shown (kimg); every `tick_kimg` is a tick and
  every `snap` ticks a snapshot: the resumable state (`snapshot.pt`) and G_ema
  alone (`network-<kimg>kimg.pt`), which the `evaluate_gan` stage measures.
- A run resumes only from a snapshot whose key matches (params, training
  images, the code that trains, the transferred weights); a run of the same
  key to more kimg extends the finished one. Anything else starts fresh.
- Under `torchrun --nproc_per_node N` (WORLD_SIZE > 1) each rank trains on
  batch/N images with its own random streams and the gradients are averaged
  across ranks, as StyleGAN3 does it: no DistributedDataParallel wrapper,
  since lazy R1 needs a double backward. Rank 0 writes the snapshots.

Person crops (128x64) are area-resized to the GAN size (resolution x width;
2:1 keeps their aspect, a square stretches them); samples become person
crops again in `reid.gan.sampling`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from reid.device import pick_device
from reid.errors import ReidError
from reid.gan.augment import diff_augment, parse_policy
from reid.gan.checkpoint import load_pretrained
from reid.gan.discriminator import Discriminator
from reid.gan.generator import Generator
from reid.gan.projected import PRECISIONS, ProjectedDiscriminator, load_projected_discriminator
from reid.gan.sampling import build_generator, network_file, to_gan_size
from reid.io import claim_run_dir, load_torch_file, save_torch_file
from reid.progress import log, progress_bar

SNAPSHOT = "snapshot.pt"
RUN_MODES = ("fresh", "resumed", "extended", "complete")  # how a call met the run folder (metrics say which)
DISCRIMINATORS = ("stylegan2", "projected")
EMA_BUFFER = re.compile(r"(^|\.)[^.]+_(avg|ema)$")  # running statistics G updates itself (w_avg, magnitude_ema)


@dataclass(frozen=True)
class GanConfig:
    """params.yaml `gan:` section (thesis run: cfg R, batch 16, gamma 2, kimg 5000, snap 20)."""

    cfg: str = "T"
    resolution: int = 64  # image height
    width: int = 0  # image width; 0 = resolution (square, as NVIDIA's pickles), resolution // 2 for 2:1 persons
    channel_base: int = 32768
    channel_max: int = 512
    z_dim: int = 512
    w_dim: int = 512
    batch: int = 16
    gamma: float = 2.0  # R1 weight; < 0: 0.0002 * resolution * width / batch (StyleGAN2-ADA)
    augment: str = ""  # DiffAugment policy, e.g. "color,translation,cutout"; "" = off
    kimg: float = 5000.0
    tick_kimg: float = 4.0
    snap: int = 20
    lr_g: float = 0.0025
    lr_d: float = 0.002
    lr_rampdown: float = 0.0  # the run's last fraction over which both learning rates fall to 0 (half cosine)
    ema_kimg: float = -1.0
    ema_rampup: float = 0.05
    r1_interval: int = 16
    mirror: bool = True
    noise: bool = True  # stylegan2's per-pixel noise inputs (NVIDIA's use_noise)
    discriminator: str = "stylegan2"  # stylegan2 (residual, learns its features) | projected (reid.gan.projected)
    features: str = ""  # projected: the re-ID model whose frozen trunk it reads
    trunk_precision: str = "auto"  # projected: auto (bf16 where native) | bf16 | fp32, the frozen trunk's arithmetic
    seed: int = 0
    resume: str = ""

    def __post_init__(self):
        if self.batch < 2:
            raise ReidError(f"params: gan.batch must be >= 2, got {self.batch}")
        if self.kimg <= 0 or self.tick_kimg <= 0 or self.snap < 1:
            raise ReidError("params: gan.kimg and gan.tick_kimg must be > 0 and gan.snap >= 1")
        parse_policy(self.augment)
        if self.discriminator not in DISCRIMINATORS:
            raise ReidError(f"params: gan.discriminator must be one of {DISCRIMINATORS}, got {self.discriminator!r}")
        if self.trunk_precision not in PRECISIONS:
            raise ReidError(f"params: gan.trunk_precision must be one of {PRECISIONS}, got {self.trunk_precision!r}")
        if not 0 <= self.lr_rampdown <= 1:
            raise ReidError(f"params: gan.lr_rampdown must be a fraction of the run in [0, 1], got {self.lr_rampdown!r}")

    @property
    def img_width(self) -> int:
        return self.width or self.resolution

    @property
    def r1_gamma(self) -> float:
        return self.gamma if self.gamma >= 0 else 0.0002 * self.resolution * self.img_width / self.batch

    @property
    def ema_nimg(self) -> float:
        kimg = self.ema_kimg if self.ema_kimg >= 0 else self.batch * 10 / 32
        return kimg * 1000

    def lr_scale(self, nimg: int) -> float:
        """The learning rates' factor after `nimg` images: 1, then along a half cosine to 0 over the last
        `lr_rampdown` of the run, so the last networks settle instead of stopping mid-stride."""
        ramp = self.lr_rampdown * self.kimg * 1000
        if ramp <= 0:
            return 1.0
        done = min(max(nimg - (self.kimg * 1000 - ramp), 0) / ramp, 1.0)
        return 0.5 * (1 + math.cos(math.pi * done))

    def fingerprint_fields(self) -> dict:
        """Everything but kimg, so a longer run of the same config extends the finished one; with a learning-rate
        rampdown the schedule depends on kimg, and a longer run starts afresh."""
        fields = dataclasses.asdict(self)
        if self.lr_rampdown == 0:
            fields.pop("kimg")
        return fields


def build_networks(config: GanConfig) -> tuple[Generator, Discriminator | ProjectedDiscriminator]:
    G = build_generator(dataclasses.asdict(config))
    if config.discriminator == "projected":
        return G, load_projected_discriminator(config.features, config.resolution, config.img_width, config.seed,
                                               config.trunk_precision)
    D = Discriminator(config.resolution, 3, config.channel_base, config.channel_max, img_width=config.img_width)
    return G, D


def transfer(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> dict:
    """Copy the tensors whose names and shapes match; report what was transferred and re-initialised."""
    own = module.state_dict()
    matched = [k for k, v in own.items() if k in tensors and tuple(tensors[k].shape) == tuple(v.shape)]
    module.load_state_dict({**own, **{k: tensors[k].to(own[k].dtype) for k in matched}})
    mismatched = sorted(k for k in own if k in tensors and k not in matched)
    return {
        "transferred": len(matched),
        "reinitialised": len(own) - len(matched),
        "shape_mismatch": mismatched[:20],
        "missing_in_source": sorted(set(own) - set(tensors))[:20],
    }


def process_group(requested: str = "auto") -> tuple[int, int, torch.device]:
    """Rank, world size and device of this process.

    With WORLD_SIZE > 1 (set by torchrun) the first call joins the process
    group: gloo on CPU, NCCL on CUDA with one GPU per rank (LOCAL_RANK).
    """
    device = pick_device(requested)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), world, device


def _rank_seed(seed: int, rank: int) -> int:
    """Independent random streams per rank (latents, batch sampling, mirroring)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def _broadcast_state(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, 0)


def _all_average(tensors: list[torch.Tensor]) -> None:
    """In-place mean over the ranks, in one all-reduce of the tensors flattened together."""
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for tensor, part in zip(tensors, flat.split([t.numel() for t in tensors])):
        tensor.copy_(part.view_as(tensor))


def _average_gradients(module: torch.nn.Module) -> None:
    """Every rank takes the optimizer step of the global batch."""
    _all_average([p.grad for p in module.parameters() if p.grad is not None])


def _average_ema_buffers(G: Generator) -> None:
    """w_avg and magnitude_ema as if G had seen the global batch (the mean of the ranks' batch statistics)."""
    with torch.no_grad():
        _all_average([b for name, b in G.named_buffers() if EMA_BUFFER.search(name)])


def generator_loss(G: Generator, D: Discriminator, z: torch.Tensor, augment: str = "") -> torch.Tensor:
    """Non-saturating logistic loss: G maximises log D(G(z)), D seeing G(z) through the augmentation."""
    return F.softplus(-D(diff_augment(G(z), augment))).mean()


def discriminator_loss(D: Discriminator, real: torch.Tensor, fake: torch.Tensor, gamma: float, r1_interval: int,
                       with_r1: bool, augment: str = "") -> torch.Tensor:
    """Logistic loss of D, plus the lazy R1 penalty gamma/2 |grad D(real)|^2 scaled by its interval.

    Both sets pass the augmentation; R1 differentiates through it to the unaugmented reals. A discriminator
    whose samples do not interact (`independent_samples`) scores both sets in one pass, which is faster.
    """
    real = real.detach().requires_grad_(with_r1)
    if getattr(D, "independent_samples", False):
        both = D(diff_augment(torch.cat([fake, real]), augment))
        fake_logits, logits = both[: len(fake)], both[len(fake) :]
    else:  # StyleGAN's minibatch standard deviation must not mix real and generated images
        logits = D(diff_augment(real, augment))
        fake_logits = D(diff_augment(fake, augment))
    loss = F.softplus(fake_logits).mean() + F.softplus(-logits).mean()
    if with_r1:
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        loss = loss + grad.square().sum([1, 2, 3]).mean() * (gamma / 2) * r1_interval
    return loss


@dataclass
class GanResult:
    G_ema: Generator
    history: list[dict]
    transfer_report: dict | None
    run: str  # one of RUN_MODES


def _ema_update(G_ema: Generator, G: Generator, beta: float) -> None:
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)


def _read_snapshot(snapshot: Path, key: str, total: int) -> tuple[dict | None, str]:
    """The snapshot state to continue from and the run mode, or (None, "fresh") with the reason logged."""
    if not snapshot.is_file():
        return None, "fresh"
    state = load_torch_file(snapshot, "GAN snapshot (delete it to start afresh)")
    if state.get("fingerprint") != key:
        log(f"starting afresh: {snapshot} was made with other params, data, code or weights")
        return None, "fresh"
    if state["cur_nimg"] > total:
        log(f"starting afresh: {snapshot} is at {state['cur_nimg'] / 1000:g} kimg, beyond gan.kimg={total / 1000:g}")
        return None, "fresh"
    if state["cur_nimg"] == total:
        return state, "complete"
    finished = state["cur_nimg"] >= int(state["config"]["kimg"] * 1000)
    log(f"{'extending' if finished else 'resuming'} {snapshot} from {state['cur_nimg'] / 1000:g} kimg")
    return state, "extended" if finished else "resumed"


def train_gan(
    real_images: torch.Tensor,
    config: GanConfig,
    run_dir: str | Path,
    key: str,
    device: str = "auto",
    progress: bool = True,
    max_seconds: float = 0.0,
) -> GanResult:
    """Train on uint8 person crops (N, 3, H, W); snapshots go to `run_dir` and are resumed from.

    `key` is the resume key (params, data, code, weights): a snapshot with
    another key is not continued, and a fresh run deletes the run's older
    network files. `max_seconds` > 0 ends the run (with a snapshot) once
    training has taken that long, before `config.kimg`: the recipe benchmark
    compares recipes at equal wall time. Under torchrun every rank calls this
    with the same arguments; `config.batch` is the global batch, split evenly
    over the ranks, and only rank 0 writes to `run_dir`.
    """
    if len(real_images) < config.batch:
        raise ReidError(f"only {len(real_images)} training images, fewer than gan.batch={config.batch}")
    rank, world, device = process_group(device)
    if config.batch % world:
        raise ReidError(f"gan.batch={config.batch} does not split evenly over {world} processes")
    batch = config.batch // world
    run_dir = claim_run_dir(run_dir) if rank == 0 else Path(run_dir)
    torch.manual_seed(config.seed)
    G, D = build_networks(config)
    report = None
    if config.resume:
        report = transfer(G, load_pretrained(config.resume))
        if rank == 0:
            log(f"transfer learning from {config.resume}: {report['transferred']} tensors transferred, "
                f"{report['reinitialised']} re-initialised")
    G, D = G.to(device), D.to(device)
    if world > 1:
        _broadcast_state(G)
        _broadcast_state(D)
        torch.manual_seed(_rank_seed(config.seed, rank))
    G_ema = copy.deepcopy(G).eval()
    ratio = config.r1_interval / (config.r1_interval + 1)
    opt_G = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=config.lr_d * ratio, betas=(0.0, 0.99**ratio), eps=1e-8)
    base_lrs = [(optimiser, optimiser.param_groups[0]["lr"]) for optimiser in (opt_G, opt_D)]  # before any rampdown
    generator = torch.Generator().manual_seed(config.seed if world == 1 else _rank_seed(config.seed, rank))
    real = to_gan_size(real_images, config.resolution, config.img_width)

    total = int(config.kimg * 1000)
    tick_nimg = int(config.tick_kimg * 1000)
    cur_nimg, step, history, spent = 0, 0, [], 0.0
    snapshot = run_dir / SNAPSHOT
    state, mode = _read_snapshot(snapshot, key, total)
    if state is None:
        if rank == 0:
            for old in run_dir.glob(network_file(None)):
                old.unlink()
    else:
        for module, name in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (opt_G, "opt_G"), (opt_D, "opt_D")):
            module.load_state_dict(state[name])
        rank_rng = state.get("rank_rng", [])
        if len(rank_rng) == world:  # the same number of ranks: each continues its own streams
            generator.set_state(rank_rng[rank][0])
            torch.set_rng_state(rank_rng[rank][1])
        elif rank == 0:  # other ranks keep the fresh streams seeded above
            generator.set_state(state["generator"])
            torch.set_rng_state(state["global_rng"])
        cur_nimg, step, history, spent = state["cur_nimg"], state["step"], list(state["history"]), state["seconds"]
        report = state.get("transfer_report") or report

    started = time.perf_counter() - spent
    bar = progress_bar(total=total / 1000, initial=cur_nimg / 1000, unit="kimg", desc="train_gan",
                       disable=not progress or rank != 0,
                       bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} kimg [{elapsed}<{remaining}, {rate_fmt}]")
    loss_sum = {"G": 0.0, "D": 0.0, "n": 0}
    while cur_nimg < total:
        batch_idx = torch.randint(0, len(real), (batch,), generator=generator)
        real_batch = real[batch_idx]
        if config.mirror:
            flip = torch.rand(batch, generator=generator) < 0.5
            real_batch = torch.where(flip.view(-1, 1, 1, 1), real_batch.flip(3), real_batch)
        real_batch = real_batch.to(device)

        scale = config.lr_scale(cur_nimg)
        for optimiser, lr in base_lrs:
            for group in optimiser.param_groups:
                group["lr"] = lr * scale
        G.train(), D.train()
        z = torch.randn(batch, config.z_dim, device=device)
        loss_G = generator_loss(G, D, z, config.augment)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        if world > 1:
            _average_gradients(G)
        opt_G.step()

        with torch.no_grad():
            fake = G(torch.randn(batch, config.z_dim, device=device), update_emas=True)
        if world > 1:
            _average_ema_buffers(G)
        with_r1 = config.r1_gamma > 0 and step % config.r1_interval == 0
        loss_D = discriminator_loss(D, real_batch, fake, config.r1_gamma, config.r1_interval, with_r1, config.augment)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        if world > 1:
            _average_gradients(D)
        opt_D.step()

        ema_nimg = config.ema_nimg
        if config.ema_rampup > 0:  # a short half-life early on, so G_ema follows a young G (StyleGAN2-ADA)
            ema_nimg = min(ema_nimg, cur_nimg * config.ema_rampup)
        _ema_update(G_ema, G, 0.5 ** (config.batch / max(ema_nimg, 1e-8)))
        loss_sum["G"] += loss_G.item()
        loss_sum["D"] += loss_D.item()
        loss_sum["n"] += 1
        cur_nimg += config.batch
        step += 1
        bar.update(min(cur_nimg, total) / 1000 - bar.n)  # no float drift past the total
        bar.set_postfix(G=f"{loss_G.item():.3f}", D=f"{loss_D.item():.3f}", refresh=False)

        if max_seconds > 0:
            out_of_time = torch.tensor(time.perf_counter() - started >= max_seconds, device=device)
            if world > 1:
                dist.broadcast(out_of_time, 0)  # rank 0's clock decides for all
            if out_of_time:
                total = cur_nimg  # this step was the last
        tick_done = cur_nimg // tick_nimg > (cur_nimg - config.batch) // tick_nimg
        if tick_done or cur_nimg >= total:
            if world > 1:
                sums = torch.tensor([loss_sum["G"], loss_sum["D"]], dtype=torch.float64, device=device)
                dist.all_reduce(sums)
                loss_sum["G"], loss_sum["D"] = (sums / world).tolist()
            history.append({"kimg": cur_nimg / 1000, "loss_G": loss_sum["G"] / loss_sum["n"],
                            "loss_D": loss_sum["D"] / loss_sum["n"], "seconds": time.perf_counter() - started})
            loss_sum = {"G": 0.0, "D": 0.0, "n": 0}
            if (cur_nimg // tick_nimg) % config.snap == 0 or cur_nimg >= total:
                if world > 1:
                    rank_rng = [None] * world
                    dist.all_gather_object(rank_rng, (generator.get_state(), torch.get_rng_state()))
                if rank == 0:
                    settings = dataclasses.asdict(config)
                    save_torch_file({"G_ema": G_ema.state_dict(), "config": settings, "cur_nimg": cur_nimg},
                                    run_dir / network_file(cur_nimg))
                    state = {
                        "fingerprint": key, "G": G.state_dict(), "D": D.state_dict(),
                        "G_ema": G_ema.state_dict(), "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
                        "generator": generator.get_state(), "global_rng": torch.get_rng_state(),
                        "cur_nimg": cur_nimg, "step": step, "history": history, "seconds": history[-1]["seconds"],
                        "transfer_report": report or {}, "config": settings,
                    }
                    if world > 1:
                        state["rank_rng"] = rank_rng
                    save_torch_file(state, snapshot)
    bar.close()
    if world > 1:
        dist.barrier()  # every rank returns once rank 0 has written the final snapshot
    return GanResult(G_ema.eval(), history, report, mode)


def real_sample(images: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """A fixed random subset of the real images (for FID), the same for every snapshot."""
    order = np.random.default_rng(seed).permutation(len(images))[:count]
    return images[torch.as_tensor(np.sort(order))]
