"""Stage `assemble`: params `aug` + prepared data + the kept generated persons and variations -> data/assembled/index.csv."""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.assemble import AugConfig, assemble_training_set, read_generated_set, summarize, write_assembled
from reid.data.index import read_index
from reid.io import atomic_dir, atomic_write_json


def run_assemble(values: dict, data: Path, generated: Path, filtered: Path, inverted: Path, output: Path,
                 metrics_dir: Path | None) -> dict:
    """Write the augmented training index into `output` and its counts into metrics/assemble.json.

    `generated` holds the artificial persons' images and `filtered` the filter's verdicts on them
    (scores.csv); `inverted` holds the variations of real persons and their verdicts (the invert stage).
    """
    config = from_section(AugConfig, values, "aug")
    kept = read_generated_set(generated, filtered) if config.persons else None
    varied = (read_generated_set(inverted, inverted, "run the invert stage first (dvc repro invert)")
              if config.images_per_person else None)
    assembled = assemble_training_set(read_index(data), kept, config, varied)
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
