"""StyleGAN3-type generator and discriminator, training, style mixing."""
