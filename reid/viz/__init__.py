"""Figures: image grids, curves."""
