"""Re-ID and image-generation metrics as pure functions on arrays."""
