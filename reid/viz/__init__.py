"""Figures: image grids, training curves, rank lists, the experiment report."""
