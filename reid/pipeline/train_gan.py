"""Stage `train_gan`: params `gan` + prepared training images -> data/gan (snapshot, network files), training log.

Measuring the networks (FID, grids) is the `evaluate_gan` stage's job, so a
change of the FID settings does not retrain the GAN. The stage trains in a run
folder outside DVC's outputs (resumed from, as train_reid's checkpoints) and
copies the finished run to data/gan: an output DVC deletes before a run is one
its run cache can restore, so a seed grid trains each seed's GAN once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import torch.distributed as dist

from reid.config import from_section
from reid.data.images import load_images
from reid.data.index import GAN_SPLITS, read_index
from reid.errors import ReidError
from reid.gan.sampling import network_file
from reid.gan.training import SNAPSHOT, GanConfig, process_group, train_gan
from reid.io import atomic_dir, atomic_write_json
from reid.pipeline.common import resume_key, run_settings, write_tsv
from reid.provenance import file_digest


def _fingerprint(config: GanConfig) -> dict:
    """The params of the resume key, with the bytes of the re-ID model a projected discriminator reads."""
    fields = config.fingerprint_fields()
    if config.discriminator == "projected":
        if not Path(config.features).is_file():
            raise ReidError(f"{config.features or '(empty)'}: gan.features, the re-ID model of the projected "
                            f"discriminator, not found (dvc repro train_reid makes data/reid/model.pt)")
        fields["features"] = [config.features, file_digest(config.features)]
    return fields


def publish_run(run_dir: Path, output: Path) -> None:
    """Copy the run's snapshot and network files into `output`, replacing it whole."""
    with atomic_dir(output) as tmp:
        for path in [run_dir / SNAPSHOT, *sorted(run_dir.glob(network_file(None)))]:
            shutil.copy2(path, tmp / path.name)


def run_gan_training(values: dict, run: dict, data: Path, run_dir: Path, metrics_dir: Path,
                     progress: bool = True, output: Path | None = None) -> dict:
    """Train the GAN on the prepared training images; write the run folder, gan_log.tsv and gan_train.json.

    With `output`, the finished run's files are copied there (the stage's
    DVC output); the run folder stays where the next run resumes from.

    Also runs as N processes, `torchrun --nproc_per_node 2 -m stages.train_gan`:
    the ranks train together and rank 0 alone writes the outputs and returns
    the summary (the other ranks return an empty dict).
    """
    config = from_section(GanConfig, values, "gan")
    settings = run_settings(run)
    rank, world, _ = process_group(settings.device)
    try:
        index = read_index(data)
        paths = list(index.path[index.split.isin(GAN_SPLITS)])
        images = load_images(paths, 128, 64, progress and rank == 0, "load GAN images")
        key = resume_key(_fingerprint(config), __name__, paths, weights=config.resume)
        result = train_gan(images, config, run_dir, key, settings.device, progress)
    finally:
        if world > 1:
            dist.destroy_process_group()
    if rank != 0:
        return {}
    if output is not None:
        publish_run(Path(run_dir), output)
    history = pd.DataFrame(result.history)
    write_tsv(metrics_dir / "gan_log.tsv", history)
    summary = {
        "cfg": config.cfg,
        "resolution": config.resolution,
        "run": result.run,
        "kimg": float(history.kimg.iloc[-1]),
        "train_seconds": round(float(history.seconds.iloc[-1]), 1),
        "transfer": result.transfer_report or {"transferred": 0},
    }
    atomic_write_json(metrics_dir / "gan_train.json", summary)
    print(f"trained GAN to {summary['kimg']:g} kimg ({result.run} run) in {summary['train_seconds']} s")
    return summary
