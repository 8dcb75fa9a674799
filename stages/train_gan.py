"""DVC stage `train_gan`: params `gan` + prepared training images -> data/gan (snapshot, network files), training log.

The run folder runs/checkpoints/train_gan is resumed from; data/gan is its finished copy.

Single process: `python -m stages.train_gan`. Several processes (gloo on CPU,
NCCL with one GPU each), with `gan.batch` split over them:
`torchrun --nproc_per_node 2 -m stages.train_gan`.
"""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.train_gan import run_gan_training

if __name__ == "__main__":
    run_reported(
        lambda: run_gan_training(
            load_section("gan"), load_section("run"), data=Path("data/prepared"),
            run_dir=Path("runs/checkpoints/train_gan"), metrics_dir=Path("metrics"), output=Path("data/gan"),
        )
    )
