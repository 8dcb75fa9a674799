"""DVC stage `train_gan`: params `gan` + prepared training images -> data/gan (snapshot, grid), FID curve.

Single process: `python stages/train_gan.py`. Several processes (gloo on CPU,
NCCL with one GPU each), with `gan.batch` split over them:
`torchrun --nproc_per_node 2 stages/train_gan.py`.
"""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline import run_gan_training

if __name__ == "__main__":
    run_reported(
        lambda: run_gan_training(
            load_section("gan"), data=Path("data/prepared"), run_dir=Path("data/gan"), metrics_dir=Path("metrics")
        )
    )
