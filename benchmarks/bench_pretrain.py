"""Does synthetic pretraining help when the fine-tuning data are few and look different? Measured, with seed spread.

A domain shift reproducible without Market-1501: the pretrained model learnt
the embedded set of `data.seed` 0 (150 persons, its six cameras); the target
is a small set drawn with another seed, so other persons, other camera
backgrounds, casts and viewpoints: 32 training identities (288 images), 93
queries and 224 gallery images. Both arms fine-tune with the `reid:` recipe of
params.yaml on it and are evaluated on its query/gallery, 3 seeds each:
random init (`reid.pretrained: ""`, lr_backbone 0.05) against synthetic
pretraining (`reid.pretrained: synthetic`, lr_backbone 0.005, the recipe for a
pretrained trunk). Paired over seeds, `reid.metrics.spread` gives the t-test.
Pretraining costs what fine-tuning costs per image shown (same network and
size), so the runs also give the training seconds per 1,000 images;
`--time-generation` times drawing the default pretraining set.

The pretrained model is the pretrain stage's default output; the default
`dvc repro`'s data/reid/model.pt is that same network (same images, recipe and
seed), so `--pretrained data/reid/model.pt` reuses it. Without the option the
stage's default pretraining runs here first. The day's ResNet-18 training
speed (128x64, batch 32) is measured at the start.

    OMP_NUM_THREADS=1 python benchmarks/bench_pretrain.py --pretrained data/reid/model.pt [--threads 1]

The README's table: the arms ran as separate processes (`--arms random`,
then `--arms synthetic --seeds N` each) and one last call printed the table
from their eval.json files; the pretrained model was `reid pretrain --epochs 6`
(the default set and recipe cut to 6 epochs: data/reid/model.pt was not
trained yet that day).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from reid.config import load_section
from reid.models.baseline import ReidNet
from reid.metrics.spread import paired_difference
from reid.pipeline.evaluate import run_evaluation
from reid.data.prepare import prepare_dataset
from reid.pipeline.pretrain import MODEL_FILE, PretrainConfig, run_pretraining
from reid.pipeline.prepare import run_prepare
from reid.pipeline.train_reid import run_training

TARGET = {"train_ids": 32, "test_ids": 24, "images_per_id": 9, "gallery_per_id": 9, "distractors": 8, "junk": 0}
ARMS = {"random": {"pretrained": "", "lr_backbone": 0.05}, "synthetic": {"pretrained": "synthetic", "lr_backbone": 0.005}}
METRICS = ("rank1", "mAP")


def training_speed(threads: int, steps: int = 30, batch: int = 32) -> float:
    """ResNet-18 + ClassBlock training images per second at 128x64 (forward, backward, SGD step)."""
    torch.manual_seed(0)
    model = ReidNet("resnet18", 150).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.randn(batch, 3, 128, 64), torch.randint(0, 150, (batch,))
    for step in range(steps + 5):
        if step == 5:  # warm-up done
            started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - started)


def pretrained_model(args, work: Path, run: dict) -> Path:
    """The model `synthetic` means: the given file, or the pretrain stage's default pretraining run here."""
    if args.pretrained:
        return args.pretrained
    run_pretraining(load_section("pretrain"), "synthetic", run, work / "pretrain", work / "checkpoints/pretrain",
                    work / "pretrain.json")
    return work / "pretrain" / MODEL_FILE


def fine_tune(work: Path, target: Path, arm: str, seed: int, run: dict, synthetic_model: Path | None) -> dict:
    """One fine-tuning run and its evaluation; a run whose eval.json exists is read, not repeated (delete it to remeasure)."""
    out = work / f"{arm}-{seed}"
    if not (out / "eval.json").is_file():
        values = {**load_section("reid"), **ARMS[arm], "seed": seed}
        run_training(values, run, target, out / "model.pt", work / "checkpoints" / f"{arm}-{seed}", out,
                     progress=False, synthetic_model=synthetic_model)
        run_evaluation(load_section("eval"), run, target, out / "model.pt", out, progress=False)
    train, metrics = (json.loads((out / name).read_text()) for name in ("train.json", "eval.json"))
    return {"seed": seed, "init": metrics["init"], "train_seconds": train["train_seconds"],
            "images_shown": train["epochs"] * train["train_images"], **{key: metrics[key] for key in METRICS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", type=Path, help="model trained on the default embedded set (else pretrained here)")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_pretrain"), help="folder for sets, models, results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="reid.seed of each fine-tuning pair")
    parser.add_argument("--target-seed", type=int, default=7, help="generator seed of the small target set")
    parser.add_argument("--time-generation", action="store_true", help="time drawing the default pretraining set")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS),
                        help="which inits to fine-tune (a finished run's results are read again, so a rerun is cheap)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speed-steps", type=int, default=30, help="batches timed for the img/s figure (0 = skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = {**load_section("run"), "device": "cpu"}
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"threads": args.threads}
    if args.speed_steps:
        results["resnet18_train_img_per_s"] = round(training_speed(args.threads, args.speed_steps), 1)
        print(f"ResNet-18 training, 128x64, batch 32, {args.threads} thread(s): "
              f"{results['resnet18_train_img_per_s']} img/s")

    if args.time_generation:
        started = time.perf_counter()
        pretrain_set = PretrainConfig.from_params(load_section("pretrain")).synthetic
        prepare_dataset(pretrain_set.prepare_config(128, 64), work / "pretrain-set", progress=False)
        images = pretrain_set.ids * pretrain_set.images_per_id
        results["generate_seconds_per_1000_images"] = round(1000 * (time.perf_counter() - started) / images, 1)

    synthetic_model = pretrained_model(args, work, run) if "synthetic" in args.arms else None
    target = work / "target"
    if not (target / "index.csv").is_file():  # deterministic: another bench process may be reading it
        run_prepare({**load_section("data"), "source": "synthetic", "seed": args.target_seed, "synthetic": TARGET},
                    target, progress=False)
    runs = {arm: [fine_tune(work, target, arm, seed, run, synthetic_model) for seed in args.seeds] for arm in args.arms}
    results["runs"] = runs
    shown = sum(r["images_shown"] for rows in runs.values() for r in rows)
    seconds = sum(r["train_seconds"] for rows in runs.values() for r in rows)
    results["train_seconds_per_1000_images"] = round(1000 * seconds / shown, 1)
    results["target"] = {"seed": args.target_seed, **TARGET}
    print("\n| init | " + " | ".join(METRICS) + " | per seed |")
    print("|---|" + "---:|" * len(METRICS) + "---|")
    for arm, rows in runs.items():
        cells = [f"{statistics.mean(r[m] for r in rows):.3f}"
                 + (f" ± {statistics.stdev(r[m] for r in rows):.3f}" if len(rows) > 1 else "")  # one seed: no spread
                 for m in METRICS]
        seeds = "; ".join(" / ".join(f"{r[m]:.3f}" for m in METRICS) for r in rows)
        print(f"| {arm} | " + " | ".join(cells) + f" | {seeds} |")
    results["paired"] = {}
    for m in METRICS if len(runs) == len(ARMS) else ():
        paired = paired_difference([r[m] for r in runs["synthetic"]], [r[m] for r in runs["random"]])
        results["paired"][m] = {"difference": paired.difference.mean, "half_width_95": paired.difference.half_width,
                                "p_value": paired.p_value}
        print(f"synthetic - random, {m}: {paired.difference.mean:+.3f} "
              f"(95% CI ± {paired.difference.half_width:.3f}, paired t-test p = {paired.p_value:.4f})")
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(yaml.safe_dump({k: v for k, v in results.items() if k != "runs"}, sort_keys=False))


if __name__ == "__main__":
    main()
