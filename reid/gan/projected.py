"""A discriminator on frozen features (Sauer et al. 2021, "Projected GANs Converge Faster").

The pretrained network already tells a head from a torso, so the small
trainable heads need far fewer images than a discriminator that learns its
features from scratch. Here the frozen network is the pipeline's own real-only
re-ID ResNet (no ImageNet weights offline): its stem and first three stages
give maps at 1/4, 1/8 and 1/16 of the input; each goes through a fixed random
1x1 projection (the paper's cross-channel mixing, which spreads the features
a few channels dominate) and a spectrally normalised patch head. The logits of
every patch of every scale are returned side by side, so the logistic losses
and R1 of `reid.gan.training` apply unchanged (R1 would differentiate through
the frozen network twice; the paper uses none: gamma 0).

Caution (issue 10): FID measured with the same re-ID network can improve
because G learns what that network attends to; judge by the detector and the grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from reid.data.images import IMAGENET_MEAN, IMAGENET_STD
from reid.errors import ReidError
from reid.models.baseline import load_model

STAGES = ("layer1", "layer2", "layer3")


class ProjectedDiscriminator(nn.Module):
    """D(x) for images in [-1, 1]: (N, patches) logits of heads on a frozen ResNet's multi-scale features."""

    def __init__(self, trunk: nn.Module, img_resolution: int, img_width: int, head_channels: int = 64, seed: int = 0):
        super().__init__()
        self.trunk = trunk.eval().requires_grad_(False)
        for unused in ("layer4", "avgpool", "fc"):  # read up to layer3: no deeper weights in every snapshot
            if hasattr(trunk, unused):
                delattr(trunk, unused)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        with torch.no_grad():
            maps = self._features(torch.zeros(1, 3, img_resolution, img_width))
        rng = torch.Generator().manual_seed(seed)
        self.heads = nn.ModuleList()
        for index, fmap in enumerate(maps):
            channels = fmap.shape[1]
            # Fixed random projection: a buffer, not a parameter, so D's optimiser never moves it.
            projection = torch.randn(channels, channels, 1, 1, generator=rng) / channels**0.5
            self.register_buffer(f"projection{index}", projection)
            self.heads.append(_patch_head(channels, head_channels, fmap.shape[2]))

    def train(self, mode: bool = True):
        """The frozen trunk stays in eval mode: its BatchNorm statistics are the re-ID model's."""
        super().train(mode)
        self.trunk.eval()
        return self

    def _features(self, images: torch.Tensor) -> list[torch.Tensor]:
        t = self.trunk
        x = ((images + 1) / 2 - self.mean) / self.std
        x = t.maxpool(t.relu(t.bn1(t.conv1(x))))
        maps = []
        for name in STAGES:
            x = getattr(t, name)(x)
            maps.append(x)
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = []
        for index, (fmap, head) in enumerate(zip(self._features(images), self.heads)):
            projected = F.conv2d(fmap, getattr(self, f"projection{index}"))
            logits.append(head(projected).flatten(1))
        return torch.cat(logits, dim=1)


def _patch_head(in_channels: int, channels: int, height: int) -> nn.Sequential:
    """Stride-2 3x3 convs down to a height of at most 4, then a 1x1 conv to one logit per patch."""
    layers, current = [], in_channels
    while height > 4:
        layers += [spectral_norm(nn.Conv2d(current, channels, 3, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        current, height = channels, height // 2
    layers += [spectral_norm(nn.Conv2d(current, channels, 3, padding=1)), nn.LeakyReLU(0.2),
               spectral_norm(nn.Conv2d(channels, 1, 1))]
    return nn.Sequential(*layers)


def load_projected_discriminator(path: str, img_resolution: int, img_width: int, seed: int = 0):
    """The projected discriminator on the trunk of the re-ID model saved at `path` (its classifier is not used)."""
    if not path:
        raise ReidError("gan.discriminator projected needs gan.features: a re-ID model file (data/reid/model.pt)")
    model, _ = load_model(path, torch.device("cpu"))
    return ProjectedDiscriminator(model.backbone, img_resolution, img_width, seed=seed)
