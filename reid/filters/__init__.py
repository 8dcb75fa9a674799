"""Filters that discard bad generated images: pedestrian detector and SSIM."""
