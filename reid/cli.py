"""The `reid` command line: every pipeline step usable outside DVC.

Each command reads its section of a params file (params.yaml by default, so
the CLI and `dvc repro` agree), then applies the options given here and any
`--set key=value` overrides on top (dotted keys merge as `dvc exp run -S`
does). Its outputs default to `runs/`, never to a DVC stage's outputs, which
it refuses to overwrite. Pipeline modules are imported inside the commands,
so a command loads only what its step needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
import yaml

from reid.config import apply_overrides, load_params
from reid.errors import ReidError, run_reported

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

PARAMS_HELP = "Params file whose section gives the defaults (ignored when it does not exist)."
SET_HELP = ("Override a key of the section, e.g. --set lr_backbone=0.01 or --set detector.threshold=0.5 "
            "(repeatable; value parsed as YAML; dotted keys merge into nested sections).")
DEVICE_HELP = "auto (cuda if present), cpu, cuda or cuda:N (params `run.device`)."
PROGRESS_HELP = "Show progress bars (a line every few seconds when output is not a terminal)."
PRETRAINED_HELP = ("Start: '' (random init), synthetic (--synthetic-model), a re-ID model file (classifier dropped) "
                   "or torchvision ImageNet weights.")
SYNTHETIC_MODEL_HELP = "The model `--pretrained synthetic` starts from (written by `reid pretrain`)."


def section(params: Path, name: str, overrides: list[str], **options) -> dict:
    """Params section, then explicit options (None = not given), then --set pairs."""
    values = dict(load_params(params).get(name) or {}) if params.exists() else {}
    values.update({k: v for k, v in options.items() if v is not None})
    return apply_overrides(values, overrides, name)


def run_section(params: Path, device: Optional[str]) -> dict:
    """The `run:` section (device, batch sizes) with --device on top."""
    return section(params, "run", [], device=device)


def refuse_dvc_outputs(*paths: Path, dvc_file: Path = Path("dvc.yaml")) -> None:
    """Refuse to write where a DVC stage keeps its outputs: `dvc repro` owns those files."""
    if not dvc_file.is_file():
        return
    stages = (yaml.safe_load(dvc_file.read_text()) or {}).get("stages") or {}
    for path in paths:
        target = path.resolve()
        for stage, spec in stages.items():
            for out in [*(spec.get("outs") or []), *(spec.get("metrics") or [])]:
                owned = (dvc_file.parent / (next(iter(out)) if isinstance(out, dict) else out)).resolve()
                if target == owned or owned.is_relative_to(target) or target.is_relative_to(owned):
                    raise ReidError(f"{path}: holds outputs of DVC stage '{stage}' ({owned.relative_to(dvc_file.parent.resolve())}); "
                                    f"run `dvc repro {stage}` or choose another output")


@app.command()
def prepare(
    output: Path = typer.Option(Path("runs/prepared"), help="Folder to create: Market-1501 layout plus index.csv."),
    source: Optional[str] = typer.Option(None, help="synthetic (embedded, default) or market1501."),
    market_root: Optional[Path] = typer.Option(None, help="Market-1501 root when --source market1501."),
    seed: Optional[int] = typer.Option(None, help="Seed of the synthetic data set (same seed, same bytes)."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Validate Market-1501 (or generate the synthetic set) into OUTPUT with index.csv."""
    def step():
        from reid.pipeline.prepare import run_prepare

        refuse_dvc_outputs(output)
        market1501_root = str(market_root) if market_root else None
        values = section(params, "data", set_, source=source, seed=seed, market1501_root=market1501_root)
        run_prepare(values, output, progress)

    run_reported(step)


@app.command()
def train(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data folder (with index.csv)."),
    output: Path = typer.Option(Path("runs/reid/model.pt"), help="Where to write the trained model."),
    checkpoints: Path = typer.Option(Path("runs/reid/checkpoints"), help="Checkpoint folder; a rerun of the same run resumes from it."),
    metrics_dir: Path = typer.Option(Path("runs/reid"), help="Folder for train.json, train_log.tsv and train_curves.png."),
    arch: Optional[str] = typer.Option(None, help="Backbone: resnet50 (thesis), resnet34 or resnet18."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs (thesis: 60)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (thesis: 16)."),
    pretrained: Optional[str] = typer.Option(None, help=PRETRAINED_HELP),
    synthetic_model: Path = typer.Option(Path("runs/pretrain/model.pt"), help=SYNTHETIC_MODEL_HELP),
    seed: Optional[int] = typer.Option(None, help="Seed of initialisation, shuffling and augmentation."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Train the ResNet + ClassBlock re-ID model with cross-entropy on the prepared data."""
    def step():
        from reid.pipeline.train_reid import run_training

        refuse_dvc_outputs(output, checkpoints, metrics_dir)
        values = section(params, "reid", set_, arch=arch, epochs=epochs, batch_size=batch_size,
                         pretrained=pretrained, seed=seed)
        run_training(values, run_section(params, device), data, output, checkpoints, metrics_dir, progress,
                     synthetic_model)

    run_reported(step)


@app.command()
def pretrain(
    output: Path = typer.Option(Path("runs/pretrain"), help="Folder to create: model.pt, the synthetic set, curves."),
    checkpoints: Path = typer.Option(Path("runs/checkpoints-pretrain"), help="Checkpoint folder; a rerun of the same run resumes from it."),
    summary: Path = typer.Option(Path("runs/pretrain.json"), help="Summary with the time per 1,000 images."),
    ids: Optional[int] = typer.Option(None, help="Synthetic persons to pretrain on (params pretrain.synthetic.ids)."),
    epochs: Optional[int] = typer.Option(None, help="Pretraining epochs."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Pretrain the re-ID network on the embedded synthetic set (params `pretrain`), for `reid train --pretrained synthetic`."""
    def step():
        from reid.pipeline.pretrain import SYNTHETIC_INIT, run_pretraining

        refuse_dvc_outputs(output, checkpoints, summary)
        overrides = [*([f"synthetic.ids={ids}"] if ids is not None else []), *set_]
        values = section(params, "pretrain", overrides, epochs=epochs)
        run_pretraining(values, SYNTHETIC_INIT, run_section(params, device), output, checkpoints, summary, progress)

    run_reported(step)


@app.command()
def evaluate(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data folder (with index.csv)."),
    model: Path = typer.Option(Path("runs/reid/model.pt"), help="Model written by `reid train`."),
    metrics_dir: Path = typer.Option(Path("runs/reid"), help="Folder for eval.json and cmc.tsv."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Rank the gallery for every query; print the thesis line and write Rank@k, mAP, mINP."""
    def step():
        from reid.pipeline.evaluate import run_evaluation

        refuse_dvc_outputs(metrics_dir)
        run_evaluation(section(params, "eval", set_), run_section(params, device), data, model, metrics_dir,
                       progress)

    run_reported(step)


@app.command("train-gan")
def train_gan(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data folder (train + val images are used)."),
    output: Path = typer.Option(Path("runs/gan"), help="Run folder: snapshot.pt (resumed from) and network files."),
    metrics_dir: Path = typer.Option(Path("runs/gan"), help="Folder for gan_train.json and gan_log.tsv."),
    cfg: Optional[str] = typer.Option(None, help="T (translation equivariant) or R (rotation, thesis)."),
    resolution: Optional[int] = typer.Option(None, help="Square GAN resolution (power of two >= 16)."),
    kimg: Optional[float] = typer.Option(None, help="Thousands of real images to show (more than a finished run extends it if gan.lr_rampdown is 0)."),
    resume: Optional[str] = typer.Option(None, help="Project snapshot or NVIDIA StyleGAN3 .pkl to transfer from."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Train the StyleGAN3-type GAN on the prepared person images; resumes from OUTPUT's snapshot."""
    def step():
        from reid.pipeline.train_gan import run_gan_training

        refuse_dvc_outputs(output, metrics_dir)
        values = section(params, "gan", set_, cfg=cfg, resolution=resolution, kimg=kimg, resume=resume)
        run_gan_training(values, run_section(params, device), data, output, metrics_dir, progress)

    run_reported(step)


@app.command("evaluate-gan")
def evaluate_gan(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data folder (its train + val images are the reals)."),
    run_dir: Path = typer.Option(Path("runs/gan"), help="GAN run folder with the network files train-gan saved."),
    output: Path = typer.Option(Path("runs/gan_eval"), help="Folder to create (replaced whole): a sample grid per "
                                                             "network and network.pt, the chosen one."),
    metrics_dir: Path = typer.Option(Path("runs/gan_eval"), help="Folder for gan.json and gan_fid.tsv."),
    weights: Optional[str] = typer.Option(None, help="FID backbone weights: a `reid train` model or Inception-v3 weights."),
    calibration: Path = typer.Option(Path("runs/calibration/calibration.json"),
                                     help="calibration.json of `reid filter calibrate`: the threshold when filter.detector.threshold is auto."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + " The detector comes from the params' filter.detector."),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Detector acceptance and FID (with the real-vs-real floor) of every network file of a GAN run; sample grids."""
    def step():
        from reid.pipeline.evaluate_gan import run_gan_evaluation

        refuse_dvc_outputs(output, metrics_dir)
        values = section(params, "gan_eval", set_, weights=weights)
        psi = section(params, "gen", []).get("truncation_psi", 1.0)
        run_gan_evaluation(values, section(params, "filter", []).get("detector"), psi, run_section(params, device),
                           data, run_dir, output, metrics_dir, calibration, progress)

    run_reported(step)


def _own_run_or_pipeline(given: Optional[Path], own: Path, pipeline: Path) -> Path:
    """The file given; else the CLI's own run's, else the DVC pipeline's (`dvc repro` made it), else the own path
    (whose absence the command then reports)."""
    if given is not None:
        return given
    return pipeline if not own.exists() and pipeline.exists() else own


@app.command()
def generate(
    snapshot: Optional[Path] = typer.Option(None, help="GAN snapshot or network file [default: runs/gan/snapshot.pt "
                                                         "of train-gan, else data/gan_eval/network.pt of dvc repro]."),
    output: Path = typer.Option(Path("runs/generated"),
                                help="Folder to create (replaced whole): manifest.csv, grid.png and the images in tar "
                                     "shards images-NNN.tar (unpack one with `tar -xf images-000.tar`: <pid>/*.jpg); "
                                     "with --input a new or empty folder of plain JPEGs."),
    input_: Optional[Path] = typer.Option(None, "--input", help="Folder of real 128x64 person images: write variations of "
                                                                "each (encoder + GAN) instead of artificial persons."),
    per_image: int = typer.Option(5, help="With --input: variations per input image."),
    encoder: Optional[Path] = typer.Option(None, help="With --input: encoder trained against --snapshot [default: "
                                                      "runs/encoder/encoder.pt of train-encoder, else "
                                                      "data/encoder/encoder.pt of dvc repro]."),
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared real data: new pids start after its largest pid."),
    first_pid: Optional[int] = typer.Option(None, help="First new pid instead (then --data is not read)."),
    persons: Optional[int] = typer.Option(None, help="Artificial persons (thesis: 401)."),
    images_per_person: Optional[int] = typer.Option(None, help="Images per person, the seed image first (thesis: 51)."),
    seed: Optional[int] = typer.Option(None, help="Person p is seed SEED + p; with --input, the seed of the variations."),
    truncation_psi: Optional[float] = typer.Option(None, help="Truncation psi (1 = none)."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Generate artificial persons (seed image, then style-mixed and interpolated variations), or with --input
    variations of real person images."""
    snapshot = _own_run_or_pipeline(snapshot, Path("runs/gan/snapshot.pt"), Path("data/gan_eval/network.pt"))
    encoder = _own_run_or_pipeline(encoder, Path("runs/encoder/encoder.pt"), Path("data/encoder/encoder.pt"))

    def step():
        refuse_dvc_outputs(output)
        values = section(params, "gen", set_, persons=persons, images_per_person=images_per_person,
                         truncation_psi=truncation_psi, **({} if input_ else {"seed": seed}))
        if input_ is not None:
            from reid.pipeline.variations import run_image_variations

            run_image_variations(values, section(params, "invert", set_), run_section(params, device), input_, output,
                                 snapshot, encoder, per_image, seed or 0, progress)
            return
        from reid.pipeline.generate import next_pid, run_generation

        run_generation(values, run_section(params, device), snapshot, output,
                       first_pid if first_pid is not None else next_pid(data), progress)

    run_reported(step)


@app.command("train-encoder")
def train_encoder(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data: trained on train + val, measured on the queries."),
    snapshot: Path = typer.Option(Path("runs/gan/snapshot.pt"), help="GAN snapshot whose frozen generator is inverted."),
    reid_model: Path = typer.Option(Path("runs/reid/model.pt"), help="Real-only re-ID model (identity and perceptual losses)."),
    output: Path = typer.Option(Path("runs/encoder"), help="Folder to create (replaced whole): encoder.pt, reconstructions.png."),
    checkpoints: Path = typer.Option(Path("runs/encoder/checkpoints"), help="Checkpoint folder; a rerun of the same run resumes."),
    metrics_dir: Path = typer.Option(Path("runs/encoder_metrics"), help="Folder for encoder.json, encoder_log.tsv, encoder_curves.png."),
    calibration: Path = typer.Option(Path("runs/calibration/calibration.json"),
                                     help="calibration.json of `reid filter calibrate`: the threshold when filter.detector.threshold is auto."),
    steps: Optional[int] = typer.Option(None, help="Training steps."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Train the W+ encoder against a frozen GAN snapshot; measure reconstructions of the held-out queries."""
    def step():
        from reid.pipeline.train_encoder import run_encoder_training

        refuse_dvc_outputs(output, checkpoints, metrics_dir)
        run_encoder_training(section(params, "encoder", set_, steps=steps), section(params, "filter", []).get("detector"),
                             run_section(params, device), data, snapshot, reid_model, output, checkpoints, metrics_dir,
                             calibration, progress)

    run_reported(step)


@app.command()
def invert(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data: its training identities are varied."),
    snapshot: Path = typer.Option(Path("runs/gan/snapshot.pt"), help="GAN snapshot the encoder was trained against."),
    encoder: Path = typer.Option(Path("runs/encoder/encoder.pt"), help="Encoder written by train-encoder."),
    output: Path = typer.Option(Path("runs/invert"), help="Folder to create (replaced whole): the variations in tar shards, manifest.csv, scores.csv (verdicts), grid.png."),
    metrics_dir: Optional[Path] = typer.Option(None, help="Also write invert.json and invert_table.tsv here."),
    calibration: Path = typer.Option(Path("runs/calibration/calibration.json"),
                                     help="calibration.json of `reid filter calibrate`: the threshold when filter.detector.threshold is auto."),
    variations_per_person: Optional[int] = typer.Option(None, help="Variations made per real identity, before the filters."),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Variations of every real training identity, screened by the detector and SSIM to their source image."""
    def step():
        from reid.pipeline.invert import run_invert

        refuse_dvc_outputs(output, *([metrics_dir] if metrics_dir else []))
        run_invert(section(params, "invert", set_, variations_per_person=variations_per_person),
                   section(params, "gen", []), section(params, "filter", []), run_section(params, device), data,
                   snapshot, encoder, output, metrics_dir, calibration, progress)

    run_reported(step)


filter_app = typer.Typer(
    invoke_without_command=True, no_args_is_help=False,
    help="Screen generated persons (detector, then SSIM to the seed image); `calibrate` sets the detector threshold.",
)
app.add_typer(filter_app, name="filter")


@filter_app.callback()
def filter_generated(
    ctx: typer.Context,
    input_: Path = typer.Option(Path("runs/generated"), "--input", help="Generated folder with manifest.csv."),
    output: Path = typer.Option(Path("runs/filtered"),
                                help="Folder to create (replaced whole): scores.csv (a verdict per image) and example sheets."),
    metrics_dir: Optional[Path] = typer.Option(None, help="Also write filter.json and filter_table.tsv here."),
    calibration: Path = typer.Option(Path("runs/calibration/calibration.json"),
                                     help="calibration.json of `reid filter calibrate`: the threshold when detector.threshold is auto."),
    backend: Optional[str] = typer.Option(None, help="Detector: hog (offline) or yolov4-tiny."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + " E.g. --set detector.threshold=0.6."),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Screen INPUT's images: verdicts into OUTPUT/scores.csv (no copies); print the discard table (Tables 5.5/5.9)."""
    ctx.obj = {"params": params, "set": set_, "progress": progress, "backend": backend}
    if ctx.invoked_subcommand is not None:
        return

    def step():
        from reid.pipeline.filter import run_filter

        refuse_dvc_outputs(output, *([metrics_dir] if metrics_dir else []))
        run_filter(_filter_section(params, set_, backend), run_section(params, None), input_, output, metrics_dir,
                   calibration, progress)

    run_reported(step)


def _filter_section(params: Path, overrides: list[str], backend: Optional[str]) -> dict:
    backend_set = [f"detector.backend={backend}"] if backend is not None else []
    return section(params, "filter", [*overrides, *backend_set])


@filter_app.command()
def calibrate(
    ctx: typer.Context,
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared real data (its training images are scored)."),
    metrics_dir: Path = typer.Option(Path("runs/calibration"), help="Folder for detector_calibration.tsv, ssim_real.tsv, calibration.json."),
    target_rejection: Optional[float] = typer.Option(None, help="Share of real images the threshold may reject (default 0.07)."),
):
    """Score the real training images: % rejected vs threshold (Fig 5.3), SSIM histogram (Fig 5.4), suggested threshold."""
    options = ctx.obj

    def step():
        from reid.pipeline.calibrate_filters import run_calibration

        refuse_dvc_outputs(metrics_dir)
        values = _filter_section(options["params"], options["set"], options["backend"])
        if target_rejection is not None:
            values["target_rejection"] = target_rejection
        run_calibration(values, run_section(options["params"], None), data, metrics_dir, options["progress"])

    run_reported(step)


@app.command()
def assemble(
    data: Path = typer.Option(Path("runs/prepared"), help="Prepared data folder (with index.csv): the real images."),
    generated: Path = typer.Option(Path("runs/generated"), help="Generated folder (`reid generate`): the images."),
    filtered: Path = typer.Option(Path("runs/filtered"), help="Filtered folder (`reid filter`): scores.csv with verdicts."),
    inverted: Path = typer.Option(Path("runs/invert"),
                                  help="Folder written by `reid invert`: variations of real persons and their verdicts "
                                       "(read for --images-per-person)."),
    output: Path = typer.Option(Path("runs/assembled"), help="Folder to create (replaced whole) with index.csv."),
    metrics_dir: Optional[Path] = typer.Option(None, help="Also write assemble.json (the counts) here."),
    persons: Optional[int] = typer.Option(None, help="Artificial persons added, each a new class or LSRO (Table 5.10)."),
    images_per_person: Optional[int] = typer.Option(None, help="Variants per real identity (Table 5.11), from --inverted."),
    labeling: Optional[str] = typer.Option(None, help="new-class (thesis) or lsro (uniform target over the real classes)."),
    seed: Optional[int] = typer.Option(None, help="Order in which generated persons are picked (a prefix per count)."),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + " E.g. --set min_images=5."),
):
    """Write the augmented training index: the real train/val images plus the picked generated ones (no copies)."""
    def step():
        from reid.pipeline.assemble import run_assemble

        refuse_dvc_outputs(output, *([metrics_dir] if metrics_dir else []))
        values = section(params, "aug", set_, persons=persons, images_per_person=images_per_person,
                         labeling=labeling, seed=seed)
        run_assemble(values, data, generated, filtered, inverted, output, metrics_dir)

    run_reported(step)


@app.command("train-augmented")
def train_augmented(
    assembled: Path = typer.Option(Path("runs/assembled"), help="Folder written by `reid assemble`."),
    baseline: Path = typer.Option(Path("runs/reid/model.pt"),
                                  help="Real-only model, reused when nothing is added (its train_log.tsv and train.json beside it)."),
    output: Path = typer.Option(Path("runs/reid_aug/model.pt"), help="Where to write the augmented model."),
    checkpoints: Path = typer.Option(Path("runs/reid_aug/checkpoints"), help="Checkpoint folder; a rerun of the same run resumes from it."),
    metrics_dir: Path = typer.Option(Path("runs/reid_aug"), help="Folder for train.json, train_log.tsv, train_curves.png."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs (thesis: 60)."),
    seed: Optional[int] = typer.Option(None, help="Seed of initialisation, shuffling and augmentation."),
    synthetic_model: Path = typer.Option(Path("runs/pretrain/model.pt"), help=SYNTHETIC_MODEL_HELP),
    device: Optional[str] = typer.Option(None, help=DEVICE_HELP),
    params: Path = typer.Option(Path("params.yaml"), help=PARAMS_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Train re-ID on an assembled set (params `reid`); evaluate it with `reid evaluate --model`."""
    def step():
        from reid.pipeline.train_augmented import run_augmented_training
        from reid.pipeline.train_reid import TrainOutputs

        refuse_dvc_outputs(output, checkpoints, metrics_dir)
        values = section(params, "reid", set_, epochs=epochs, seed=seed)
        run_augmented_training(values, run_section(params, device), assembled,
                               TrainOutputs.named(baseline, baseline.parent), TrainOutputs.named(output, metrics_dir),
                               checkpoints, progress, synthetic_model)

    run_reported(step)


@app.command()
def report(
    exp_json: Optional[Path] = typer.Option(None, help="Saved `dvc exp show --json` output to read instead of running dvc."),
    output: Path = typer.Option(Path("reports"), help="Folder for README.md and the figures (only the report's own files are replaced)."),
    curves: Optional[str] = typer.Option(None, help="Rows whose training curves are drawn: PERSONS or PERSONS:IMAGES_PER_PERSON, "
                                                    "comma-separated (e.g. 0,100,320 or 0,0:35); default: the baseline, "
                                                    "a middle and the largest row of each table."),
    repo: Path = typer.Option(Path("."), help="DVC repository whose experiments are read and whose git holds their training logs."),
    rev: list[str] = typer.Option([], "--rev", help="Read the experiments based on this commit (repeatable; "
                                                    "default: HEAD's), e.g. a grid queued before later commits."),
):
    """Tables 5.10/5.11 with seed spread, paired differences to the baseline, Figs 5.21/5.26 and training curves."""
    def step():
        from reid.experiments import group_rows, load_exp_show, parse_exp_show, warn_all
        from reid.viz.report import parse_curve_selection, write_report

        refuse_dvc_outputs(output)
        selection = parse_curve_selection(curves) if curves is not None else None
        experiments, skipped = parse_exp_show(load_exp_show(exp_json, repo, rev))
        rows, repeated = group_rows(experiments)
        source = str(exp_json) if exp_json else f"dvc exp show --json in {repo.resolve().name}"
        written = write_report(rows, skipped + repeated, output, repo, source, selection)
        warn_all(written.notes)
        for line in written.sentences:
            print(line)
        print(f"wrote {written.path} and {len(written.figures)} figures")

    run_reported(step)


@app.command()
def visualize(
    baseline: Path = typer.Option(Path("data/reid/model.pt"), help="Real-only model (train_reid stage or `reid train`)."),
    augmented: Optional[Path] = typer.Option(None, help="Augmented model to show beside it, e.g. data/reid_aug/model.pt."),
    data: Path = typer.Option(Path("data/prepared"), help="Prepared data folder (with index.csv): its query and gallery."),
    queries: int = typer.Option(8, help="Queries shown, chosen at random among those with a true match in the gallery."),
    seed: int = typer.Option(0, help="Seed of the query choice (same seed, same queries)."),
    top: int = typer.Option(10, help="Gallery images shown per query and model."),
    output: Path = typer.Option(Path("reports/ranklist.png"), help="PNG to write."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = typer.Option(True, help=PROGRESS_HELP),
):
    """Rank lists of a few queries (thesis Fig 5.22): green border = same person, red = another, junk left out."""
    def step():
        from reid.viz.ranklist import save_rank_lists

        refuse_dvc_outputs(output)
        models = {"baseline": baseline, **({"augmented": augmented} if augmented else {})}
        save_rank_lists(models, data, output, queries, seed, top, device, progress)
        print(f"wrote {output}")

    run_reported(step)


if __name__ == "__main__":
    app()
