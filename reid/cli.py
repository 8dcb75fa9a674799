"""The `reid` command line: every pipeline step usable outside DVC.

Each command reads its section of a params file (params.yaml by default, so
the CLI and `dvc repro` agree), then applies the options given here and any
`--set key=value` overrides on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
import yaml

from reid.config import load_params
from reid.errors import ReidError, run_reported
from reid.pipeline import (
    next_pid,
    run_calibration,
    run_evaluation,
    run_filter,
    run_gan_training,
    run_generation,
    run_prepare,
    run_training,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

PARAMS_HELP = "Params file whose section gives the defaults (ignored when it does not exist)."
SET_HELP = "Override a key of the section, e.g. --set lr_backbone=0.01 (repeatable; value parsed as YAML)."


def section(params: Path, name: str, overrides: list[str], **options) -> dict:
    """Params section, then explicit options (None = not given), then --set pairs."""
    values = dict(load_params(params).get(name) or {}) if params.exists() else {}
    values.update({k: v for k, v in options.items() if v is not None})
    for pair in overrides:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ReidError(f"--set expects key=value, got {pair!r}")
        values[key.strip()] = yaml.safe_load(raw)
    return values


@app.command()
def prepare(
    output: Path = typer.Option(Path("data/prepared"), help="Folder to create: Market-1501 layout plus index.csv."),
    source: Optional[str] = typer.Option(None, help="synthetic (embedded, default) or market1501."),
    market_root: Optional[Path] = typer.Option(None, help="Market-1501 root when --source market1501."),
    seed: Optional[int] = typer.Option(None, help="Seed of the synthetic data set (same seed, same bytes)."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Validate Market-1501 (or generate the synthetic set) into OUTPUT with index.csv."""
    def step():
        market1501_root = str(market_root) if market_root else None
        values = section(params, "data", set_, source=source, seed=seed, market1501_root=market1501_root)
        run_prepare(values, output, progress)

    run_reported(step)


@app.command()
def train(
    data: Path = typer.Option(Path("data/prepared"), help="Prepared data folder (with index.csv)."),
    output: Path = typer.Option(Path("data/reid/model.pt"), help="Where to write the trained model."),
    checkpoints: Path = typer.Option(Path("data/reid/checkpoints"), help="Checkpoint folder; a rerun resumes from it."),
    metrics_dir: Path = typer.Option(Path("metrics"), help="Folder for train.json and train_log.tsv."),
    arch: Optional[str] = typer.Option(None, help="Backbone: resnet50 (thesis), resnet34 or resnet18."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs (thesis: 60)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (thesis: 16)."),
    pretrained: Optional[str] = typer.Option(None, help="ImageNet weights file for the backbone ('' = random init)."),
    seed: Optional[int] = typer.Option(None, help="Seed of initialisation, shuffling and augmentation."),
    device: Optional[str] = typer.Option(None, help="auto (cuda if present), cpu, cuda or cuda:N."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Train the ResNet + ClassBlock re-ID model with cross-entropy on the prepared data."""
    def step():
        values = section(
            params, "reid", set_, arch=arch, epochs=epochs, batch_size=batch_size,
            pretrained=pretrained, seed=seed, device=device,
        )
        run_training(values, data, output, checkpoints, metrics_dir, progress)

    run_reported(step)


@app.command()
def evaluate(
    data: Path = typer.Option(Path("data/prepared"), help="Prepared data folder (with index.csv)."),
    model: Path = typer.Option(Path("data/reid/model.pt"), help="Model written by `reid train`."),
    metrics_dir: Path = typer.Option(Path("metrics"), help="Folder for eval.json and cmc.tsv."),
    batch_size: Optional[int] = typer.Option(None, help="Images per forward pass."),
    device: Optional[str] = typer.Option(None, help="auto (cuda if present), cpu, cuda or cuda:N."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Rank the gallery for every query; print the thesis line and write Rank@k, mAP, mINP."""
    def step():
        values = section(params, "eval", set_, batch_size=batch_size, device=device)
        run_evaluation(values, data, model, metrics_dir, progress)

    run_reported(step)


@app.command("train-gan")
def train_gan(
    data: Path = typer.Option(Path("data/prepared"), help="Prepared data folder (train + val images are used)."),
    output: Path = typer.Option(Path("data/gan"), help="Run folder: snapshot.pt (resumed from) and grid.png."),
    metrics_dir: Path = typer.Option(Path("metrics"), help="Folder for gan.json, gan_fid.tsv and gan_log.tsv."),
    cfg: Optional[str] = typer.Option(None, help="T (translation equivariant) or R (rotation, thesis)."),
    resolution: Optional[int] = typer.Option(None, help="Square GAN resolution (power of two >= 16)."),
    kimg: Optional[float] = typer.Option(None, help="Thousands of real images to show (a longer run resumes)."),
    resume: Optional[str] = typer.Option(None, help="Project snapshot or NVIDIA StyleGAN3 .pkl to transfer from."),
    device: Optional[str] = typer.Option(None, help="auto (cuda if present), cpu, cuda or cuda:N."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Train the StyleGAN3-type GAN on the prepared person images; resumes from OUTPUT's snapshot."""
    def step():
        values = section(params, "gan", set_, cfg=cfg, resolution=resolution, kimg=kimg, resume=resume, device=device)
        run_gan_training(values, data, output, metrics_dir, progress)

    run_reported(step)


@app.command()
def generate(
    snapshot: Path = typer.Option(Path("data/gan/snapshot.pt"), help="GAN snapshot written by train_gan."),
    output: Path = typer.Option(Path("data/generated"), help="Folder to create (replaced whole): images/<pid>/, manifest.csv, grid.png."),
    data: Path = typer.Option(Path("data/prepared"), help="Prepared real data: new pids start after its largest pid."),
    first_pid: Optional[int] = typer.Option(None, help="First new pid instead (then --data is not read)."),
    persons: Optional[int] = typer.Option(None, help="Artificial persons (thesis: 401)."),
    images_per_person: Optional[int] = typer.Option(None, help="Images per person, the seed image first (thesis: 51)."),
    seed: Optional[int] = typer.Option(None, help="Person p is seed SEED + p."),
    truncation_psi: Optional[float] = typer.Option(None, help="Truncation psi (1 = none)."),
    device: Optional[str] = typer.Option(None, help="auto (cuda if present), cpu, cuda or cuda:N."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Generate artificial persons: a seed image each, then style-mixed and interpolated variations."""
    def step():
        values = section(params, "gen", set_, persons=persons, images_per_person=images_per_person, seed=seed,
                         truncation_psi=truncation_psi, device=device)
        run_generation(values, snapshot, output, first_pid if first_pid is not None else next_pid(data), progress)

    run_reported(step)


filter_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False,
    help="Screen generated persons (detector, then SSIM to the seed image); `calibrate` sets the detector threshold.",
)
app.add_typer(filter_app, name="filter")


@filter_app.callback()
def filter_generated(
    ctx: typer.Context,
    input_: Path = typer.Option(Path("data/generated"), "--input", help="Generated folder with manifest.csv."),
    output: Path = typer.Option(Path("data/filtered"), help="Folder to create (replaced whole): kept/, discarded/<filter>/."),
    metrics_dir: Optional[Path] = typer.Option(None, help="Also write filter.json and filter_table.tsv here."),
    backend: Optional[str] = typer.Option(None, help="Detector: hog (offline) or yolov4-tiny."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + " Nested keys: --set ssim={threshold: 0.7}."),
    progress: bool = typer.Option(True, help="Show progress bars."),
):
    """Screen INPUT into OUTPUT/kept and OUTPUT/discarded/<filter>; print the discard table (Tables 5.5/5.9)."""
    ctx.obj = {"params": params, "set": set_, "progress": progress, "backend": backend}
    if ctx.invoked_subcommand is not None:
        return

    def step():
        run_filter(_filter_section(params, set_, backend), input_, output, metrics_dir, progress)

    run_reported(step)


def _filter_section(params: Path, overrides: list[str], backend: Optional[str]) -> dict:
    values = section(params, "filter", overrides)
    if backend is not None:
        values["detector"] = {**(values.get("detector") or {}), "backend": backend}
    return values


@filter_app.command()
def calibrate(
    ctx: typer.Context,
    data: Path = typer.Option(Path("data/prepared"), help="Prepared real data (its training images are scored)."),
    metrics_dir: Path = typer.Option(Path("metrics"), help="Folder for detector_calibration.tsv, ssim_real.tsv, calibration.json."),
    target_rejection: Optional[float] = typer.Option(None, help="Share of real images the threshold may reject (default 0.07)."),
):
    """Score the real training images: % rejected vs threshold (Fig 5.3), SSIM histogram (Fig 5.4), suggested threshold."""
    options = ctx.obj

    def step():
        values = _filter_section(options["params"], options["set"], options["backend"])
        if target_rejection is not None:
            values["target_rejection"] = target_rejection
        run_calibration(values, data, metrics_dir, options["progress"])

    run_reported(step)


if __name__ == "__main__":
    app()
