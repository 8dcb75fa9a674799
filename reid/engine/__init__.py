"""Re-ID training loop and feature extraction."""
