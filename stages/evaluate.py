"""DVC stage `evaluate`: model + query/gallery -> metrics/eval.json, metrics/cmc.tsv, thesis line."""

from pathlib import Path

from reid.config import load_section
from reid.errors import run_reported
from reid.pipeline.evaluate import run_evaluation

if __name__ == "__main__":
    run_reported(
        lambda: run_evaluation(
            load_section("eval"), load_section("run"), data=Path("data/prepared"),
            model_path=Path("data/reid/model.pt"), metrics_dir=Path("metrics"),
        )
    )
