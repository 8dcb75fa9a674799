"""Stage `assemble`: params `aug` + prepared data + the kept generated persons and variations -> data/assembled/index.csv."""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.assemble import AugConfig, assemble_training_set, read_generated_set, summarize, write_assembled
from reid.data.index import read_index
from reid.io import atomic_dir, atomic_write_json


def run_assemble(values: dict, data: Path, kept: Path, variants: Path, output: Path, metrics_dir: Path | None) -> dict:
    """Write the augmented training index into `output` and its counts into metrics/assemble.json.

    `kept` is the filter's kept artificial persons, `variants` the invert stage's kept variations of real persons.
    """
    config = from_section(AugConfig, values, "aug")
    generated = read_generated_set(kept) if config.persons else None
    varied = read_generated_set(variants, "run the invert stage first (dvc repro invert)") if config.images_per_person else None
    assembled = assemble_training_set(read_index(data), generated, config, varied)
    with atomic_dir(output) as tmp:
        write_assembled(assembled, tmp, output)
    summary = summarize(assembled, config)
    if metrics_dir is not None:
        atomic_write_json(metrics_dir / "assemble.json", summary)
    print(f"assembled {summary['train_images']} training images: {summary['real_images']} real of "
          f"{summary['real_persons']} persons + {summary['person_images_added']} of {summary['persons_added']} "
          f"generated persons ({config.labeling}) + {summary['variant_images_added']} variants of real persons")
    if summary["variant_persons_short"]:
        print(f"{summary['variant_persons_short']} of {summary['real_persons']} real persons have fewer than "
              f"aug.images_per_person={config.images_per_person} kept variations: all of theirs were added")
    return summary
