"""GAN data augmentation for person re-identification (library behind the DVC stages)."""

__version__ = "0.1.0"
