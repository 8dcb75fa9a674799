"""The day's machine speed, the yardstick every timing in the README is reported with.

Run by hand: `python benchmarks/bench_speed.py [--threads 2]`. Prints fp32
matmul GFLOP/s and ResNet-18 training images per second (128x64, batch 32,
SGD, random init): convolution speed varies from day to day and machine to
machine more than matmul speed (up to 2x at equal matmul), so stage times are
only comparable next to the second figure measured the same hour.
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision


def matmul_gflops(size: int = 2048, runs: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(runs):
        a @ b
    return 2 * size**3 * runs / (time.perf_counter() - start) / 1e9


def resnet18_training_rate(seconds: float = 20.0, batch: int = 32) -> float:
    """Training images per second of a ResNet-18 (751 classes, as Market-1501's) on 128x64 crops."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=751).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.randn(batch, 3, 128, 64), torch.randint(0, 751, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    for _ in range(3):  # warm-up
        step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="ResNet-18 timing length")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads: fp32 matmul {matmul_gflops():.0f} GFLOP/s, "
          f"ResNet-18 training {resnet18_training_rate(args.seconds):.0f} img/s (128x64, batch 32)")


if __name__ == "__main__":
    main()
