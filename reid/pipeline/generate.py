"""Stage `generate`: params `gen` + GAN snapshot -> data/generated (images-NNN.tar shards, manifest.csv, grid.png)."""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.generated import MANIFEST
from reid.data.index import read_index
from reid.device import pick_device
from reid.gan.mixing import GenerationConfig, plan_persons, render_persons
from reid.gan.sampling import load_generator
from reid.io import atomic_dir
from reid.pipeline.common import run_settings
from reid.viz.grid import save_grid


def next_pid(data: Path) -> int:
    """First pid after the largest real pid of the prepared data, so real and artificial persons never share one."""
    return max(int(read_index(data).pid.max()) + 1, 1)


def run_generation(values: dict, run: dict, snapshot: Path, output: Path, first_pid: int,
                   progress: bool = True) -> dict:
    """Generate the artificial persons of params `gen` from a GAN snapshot into `output` (replaced whole)."""
    config = from_section(GenerationConfig, values, "gen")
    settings = run_settings(run)
    device = pick_device(settings.device)
    G, _ = load_generator(snapshot, device)
    manifest = plan_persons(config, first_pid)
    with atomic_dir(output) as tmp:
        sheet = render_persons(G, manifest, config, tmp, device, settings.batch, progress)
        manifest.to_csv(tmp / MANIFEST, index=False)
        if sheet is not None:
            save_grid(sheet, tmp / "grid.png", config.images_per_person)
    summary = {"persons": config.persons, "images": len(manifest), "first_pid": int(manifest.pid.min()),
               "last_pid": int(manifest.pid.max())}
    print(f"generated {summary['images']} images of {config.persons} persons "
          f"(pids {summary['first_pid']}-{summary['last_pid']}) into {output}")
    return summary
