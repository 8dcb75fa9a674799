"""GAN data augmentation for person re-identification (library behind the DVC stages)."""
