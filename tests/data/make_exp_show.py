"""Make tests/data/exp_show.json: real `dvc exp show --json` output of a throwaway DVC repo.

How it was made: `python tests/data/make_exp_show.py` (DVC 3.67, git; about a minute).
The repo's one stage writes the files the `assemble -> train_augmented ->
evaluate_augmented` stages write, with numbers chosen so that tests/test_report.py
can check the report against hand-computed means, intervals and t-tests:

- baseline (eval.json) Rank@1 by reid.seed 0, 1, 2: 0.80, 0.82, 0.84;
- aug.persons=20: +0.010, +0.012, +0.014 over the baseline (beyond seed noise);
- aug.persons=60: +0.030, -0.010, +0.010 (within seed noise);
- aug.images_per_person=5, seeds 0 and 1: -0.05, -0.03;
- aug.persons=20 with aug.labeling=lsro, seed 0 only: +0.005;
- aug.persons=999 fails (a failed queued experiment);
- the HEAD commit is persons=0 seed 0, and one experiment repeats it exactly.
The other metrics are Rank@1 plus a constant, so their differences are the same.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE = '''
import json, sys, yaml
params = yaml.safe_load(open("params.yaml"))
aug, seed = params["aug"], params["reid"]["seed"]
if aug["persons"] == 999:
    sys.exit("assemble failed")
BASE = {0: 0.80, 1: 0.82, 2: 0.84}
GAIN = {(20, 0, "new-class"): [0.010, 0.012, 0.014], (60, 0, "new-class"): [0.030, -0.010, 0.010],
        (0, 5, "new-class"): [-0.05, -0.03], (20, 0, "lsro"): [0.005]}
key = (aug["persons"], aug["images_per_person"], aug["labeling"])
gain = 0.0 if key[:2] == (0, 0) else GAIN[key][seed]
def metrics(rank1):
    values = {"rank1": rank1, "rank5": rank1 + 0.1, "rank10": rank1 + 0.15, "mAP": rank1 - 0.15,
              "mAP_trapezoid": rank1 - 0.17, "mINP": rank1 - 0.4}
    return {**{k: round(v, 6) for k, v in values.items()},
            "thesis_line": "Rank@1:%f mAP:%f" % (values["rank1"], values["mAP_trapezoid"])}
json.dump(metrics(BASE[seed]), open("metrics/eval.json", "w"))
json.dump({**metrics(BASE[seed] + gain), "vs_baseline": {"rank1": gain}}, open("metrics/aug_eval.json", "w"))
variants = 150 if aug["images_per_person"] else 0
json.dump({"labeling": aug["labeling"], "real_images": 1800, "real_persons": 150,
           "persons_added": aug["persons"], "person_images_added": aug["persons"] * 40,
           "variant_persons": variants, "variant_images_added": variants * aug["images_per_person"],
           "images_added": aug["persons"] * 40 + variants * aug["images_per_person"],
           "classes": 150 + aug["persons"], "train_images": 1800 + aug["persons"] * 40},
          open("metrics/assemble.json", "w"))
for name, shift in (("train_log.tsv", 0.0), ("aug_train_log.tsv", gain)):
    with open("metrics/" + name, "w") as f:
        f.write("epoch\\tlr\\ttrain_loss\\tval_loss\\ttrain_top1_err\\tval_top1_err\\tseconds\\n")
        for epoch in range(1, 5):
            losses = (4 / epoch, 4.5 / epoch, 0.9 / epoch - shift, 1 / epoch - shift)
            f.write("%d\\t0.05\\t%f\\t%f\\t%f\\t%f\\t1.0\\n" % (epoch, *losses))
'''

DVC_YAML = """stages:
  fake:
    cmd: python stage.py
    deps: [stage.py]
    params: [aug, reid]
    outs:
      - metrics/train_log.tsv: {cache: false}
      - metrics/aug_train_log.tsv: {cache: false}
    metrics:
      - metrics/eval.json: {cache: false}
      - metrics/aug_eval.json: {cache: false}
      - metrics/assemble.json: {cache: false}
"""

PARAMS = """run:
  device: auto
aug:
  persons: 0
  images_per_person: 0
  min_images: 2
  labeling: new-class
  seed: 0
reid:
  epochs: 4
  seed: 0
"""

EXPERIMENTS = [  # persons, images_per_person, labeling, reid seeds
    (0, 0, "new-class", [0, 1, 2]),  # seed 0 repeats the HEAD commit
    (20, 0, "new-class", [0, 1, 2]),
    (60, 0, "new-class", [0, 1, 2]),
    (0, 5, "new-class", [0, 1]),
    (20, 0, "lsro", [0]),
]


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        sh("git", "init", "-q", cwd=repo)
        sh("git", "config", "user.email", "test@example.com", cwd=repo)
        sh("git", "config", "user.name", "test", cwd=repo)
        sh("dvc", "init", "-q", cwd=repo)
        (repo / "metrics").mkdir()
        (repo / "stage.py").write_text(STAGE)
        (repo / "dvc.yaml").write_text(DVC_YAML)
        (repo / "params.yaml").write_text(PARAMS)
        sh("dvc", "repro", "-q", cwd=repo)
        sh("git", "add", "-A", cwd=repo)
        sh("git", "commit", "-qm", "baseline", cwd=repo)
        sh("dvc", "exp", "run", "--queue", "-q", "-S", "aug.persons=999", cwd=repo)
        sh("dvc", "queue", "start", "-j", "1", cwd=repo)
        while "Queued" in (status := sh("dvc", "queue", "status", cwd=repo)) or "Running" in status:
            time.sleep(2)
        for persons, images, labeling, seeds in EXPERIMENTS:
            for seed in seeds:
                sh("dvc", "exp", "run", "-q", "-S", f"aug.persons={persons}", "-S", f"aug.images_per_person={images}",
                   "-S", f"aug.labeling={labeling}", "-S", f"reid.seed={seed}", cwd=repo)
        out = Path(__file__).with_name("exp_show.json")
        out.write_text(sh("dvc", "exp", "show", "--json", cwd=repo))
        print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
