"""Data sets: Market-1501 reading and validation, the embedded synthetic data set, loaders."""
