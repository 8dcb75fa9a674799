"""Generator throughput, achieved GFLOP/s against this machine's matmul rate, and GAN training steps/s.

Run by hand: `python benchmarks/bench_gan.py [--quick] [--threads 2]`.  The
matmul rate is measured in the same run so that "% of matmul" compares like
with like on a shared machine.  NVIDIA's reference implementation cannot run
here; its speed is taken as the quoted 3.3 s/image (T, 64², paper channels).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reid.gan.training import GanConfig, build_networks, discriminator_loss, generator_loss  # noqa: E402

NVIDIA_SECONDS_PER_IMAGE = 3.3  # quoted figure for cfg T, 64², paper channels; not measured in this run
CHANNELS = {"default": {"T": (1024, 32), "R": (1024, 32)}, "paper": {"T": (32768, 512), "R": (65536, 1024)}}


def timed(fn, min_seconds: float, min_runs: int = 1) -> float:
    """Median-free best-of timing: a warm-up call, then the best of repeated calls (the machine is shared)."""
    fn()
    best, spent, runs = float("inf"), 0.0, 0
    while runs < min_runs or spent < min_seconds:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def matmul_gflops(size: int = 2048) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / timed(lambda: a @ b, 1.0, 3) / 1e9


def counted_gflop_per_image(G, z) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        G(z)
    return counter.get_total_flops() / len(z) / 1e9


def forward_images_per_second(G, batch: int, min_seconds: float) -> float:
    z = torch.randn(batch, G.z_dim)
    with torch.no_grad():
        return batch / timed(lambda: G(z), min_seconds)


def training_steps_per_second(config: GanConfig, steps: int) -> float:
    """G step, then D step (R1 on the first step of every 16), as `reid.gan.training.train_gan` does."""
    torch.manual_seed(0)
    G, D = build_networks(config)
    opt_G = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(0.0, 0.99), eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(0.0, 0.99), eps=1e-8)
    real = torch.rand(config.batch, 3, config.resolution, config.resolution) * 2 - 1
    state = {"step": 0}

    def step():
        loss_G = generator_loss(G, D, torch.randn(config.batch, config.z_dim))
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
        with torch.no_grad():
            fake = G(torch.randn(config.batch, config.z_dim), update_emas=True)
        with_r1 = state["step"] % config.r1_interval == 0
        loss_D = discriminator_loss(D, real, fake, config.gamma, config.r1_interval, with_r1)
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()
        state["step"] += 1

    step()  # warm-up, includes one R1 step
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64² only, shorter timings, no paper-config training")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per forward measurement")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps (default channels)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds = 1.0 if args.quick else args.seconds

    matmul = matmul_gflops()
    print(f"torch {torch.__version__}, {args.threads} threads")
    print(f"fp32 matmul (2048², measured now): {matmul:.1f} GFLOP/s")
    print(f"NVIDIA reference (not run here; quoted): {NVIDIA_SECONDS_PER_IMAGE} s/image for T 64² paper channels\n")
    header = (f"{'cfg':3} {'res':>4} {'channels':8} {'batch':>5} {'img/s':>8} {'GFLOP/img':>10} {'GFLOP/s':>8} "
              f"{'%matmul':>7} {'vs NVIDIA':>9} {'train step/s':>14}")
    print(header)
    print("-" * len(header))
    for resolution in (64,) if args.quick else (64, 128):
        for channels in ("default", "paper"):
            for cfg in ("T", "R"):
                base, cmax = CHANNELS[channels][cfg]
                config = GanConfig(cfg=cfg, resolution=resolution, channel_base=base, channel_max=cmax, batch=16)
                torch.manual_seed(0)
                G, _ = build_networks(config)
                G.eval()
                batch = 16 if channels == "default" else 4
                gflop = counted_gflop_per_image(G, torch.randn(1, G.z_dim))
                rate = forward_images_per_second(G, batch, seconds)
                vs = f"{rate * NVIDIA_SECONDS_PER_IMAGE:.2f}x" if (cfg, resolution, channels) == ("T", 64, "paper") else ""
                if channels == "default":
                    train = f"{training_steps_per_second(config, args.steps):.3f}"
                elif args.quick or resolution > 64:
                    train = "skipped"
                else:
                    small = GanConfig(cfg=cfg, resolution=resolution, channel_base=base, channel_max=cmax, batch=2)
                    train = f"{training_steps_per_second(small, 1):.3f} (b2)"
                print(f"{cfg:3} {resolution:>4} {channels:8} {batch:>5} {rate:8.3f} {gflop:10.1f} {rate * gflop:8.1f} "
                      f"{100 * rate * gflop / matmul:6.1f}% {vs:>9} {train:>14}", flush=True)
    print("\ntrain step/s: one G step + one D step at batch 16 (R1 every 16 steps);"
          " paper channels use batch 2 (b2) at 64² and are skipped at 128² (minutes per step on this CPU).")


if __name__ == "__main__":
    main()
