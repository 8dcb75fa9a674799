"""Stage `assemble`: params `aug` + prepared data + the generated images the filter kept -> data/assembled/index.csv."""

from __future__ import annotations

from pathlib import Path

from reid.config import from_section
from reid.data.assemble import AugConfig, assemble_training_set, read_generated_set, summarize, write_assembled
from reid.data.index import read_index
from reid.io import atomic_dir, atomic_write_json


def run_assemble(values: dict, data: Path, generated: Path, filtered: Path, output: Path,
                 metrics_dir: Path | None) -> dict:
    """Write the augmented training index into `output` and its counts into metrics/assemble.json.

    `generated` holds the images, `filtered` the filter's verdicts on them (scores.csv).
    """
    config = from_section(AugConfig, values, "aug")
    kept = read_generated_set(generated, filtered) if config.persons else None
    assembled = assemble_training_set(read_index(data), kept, config)
    with atomic_dir(output) as tmp:
        write_assembled(assembled, tmp, output)
    summary = summarize(assembled, config)
    if metrics_dir is not None:
        atomic_write_json(metrics_dir / "assemble.json", summary)
    print(f"assembled {summary['train_images']} training images: {summary['real_images']} real of "
          f"{summary['real_persons']} persons + {summary['person_images_added']} of {summary['persons_added']} "
          f"generated persons ({config.labeling}) + {summary['variant_images_added']} variants of real persons")
    return summary
