"""Re-ID backbones with the bottleneck ClassBlock."""
