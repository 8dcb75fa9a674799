"""The pipeline steps as the DVC stages and the CLI both run them, one module per stage.

Each step takes its params section as a dict (plus the `run:` section: device
and batch sizes, which change how fast, not what), does the work through the
library and writes its outputs atomically, so `dvc repro` and `reid <step>`
produce the same files. A stage imports only its own module, so its
`dvc.yaml` dependencies are exactly the files that module reaches.
"""
