"""DVC stage `evaluate_augmented`: augmented model + query/gallery -> metrics/aug_eval.json (with the change vs the baseline)."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.evaluate import run_evaluation

if __name__ == "__main__":
    run_reported(
        lambda: run_evaluation(
            load_section("eval"), load_section("run"), data=Path("data/prepared"),
            model_path=Path("data/reid_aug/model.pt"), metrics_dir=Path("metrics"),
            prefix="aug_", baseline=Path("metrics/eval.json"),
        )
    )
