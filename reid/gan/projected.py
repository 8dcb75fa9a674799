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

Speed on CPU: the frozen trunk is most of a training step, so it runs in
bfloat16 where the device computes that natively (`trunk_precision` auto:
CPUs with AVX-512 BF16 or AMX, CUDA with bf16), channels-last; the heads stay
float32. Samples do not interact in this discriminator (the trunk's BatchNorm
is frozen, there is no minibatch statistic), so the training loop scores real
and generated images in one pass (`independent_samples`).

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
PRECISIONS = ("auto", "bf16", "fp32")


def trunk_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the frozen trunk computes in on `device`: bf16 only where it is native (else emulated, slower)."""
    if precision not in PRECISIONS:
        raise ReidError(f"params: gan.trunk_precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            native = torch.cuda.is_bf16_supported()
        else:
            native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        precision = "bf16" if native else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32


class ProjectedDiscriminator(nn.Module):
    """D(x) for images in [-1, 1]: (N, patches) logits of heads on a frozen ResNet's multi-scale features."""

    independent_samples = True  # an image's logits do not depend on the rest of the batch

    def __init__(self, trunk: nn.Module, img_resolution: int, img_width: int, head_channels: int = 64, seed: int = 0,
                 precision: str = "fp32"):
        super().__init__()
        self.precision = precision
        trunk_dtype(precision, torch.device("cpu"))  # checked here, resolved on the device it runs on
        self.trunk = trunk.eval().requires_grad_(False).to(memory_format=torch.channels_last)
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
        x = (((images + 1) / 2 - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        dtype = trunk_dtype(self.precision, x.device)
        maps = []
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype != torch.float32):
            x = t.maxpool(t.relu(t.bn1(t.conv1(x))))
            for name in STAGES:
                x = getattr(t, name)(x)
                maps.append(x)
        return [fmap.float() for fmap in maps]

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


def load_projected_discriminator(path: str, img_resolution: int, img_width: int, seed: int = 0,
                                 precision: str = "fp32"):
    """The projected discriminator on the trunk of the re-ID model saved at `path` (its classifier is not used)."""
    if not path:
        raise ReidError("gan.discriminator projected needs gan.features: a re-ID model file (data/reid/model.pt)")
    model, _ = load_model(path, torch.device("cpu"))
    return ProjectedDiscriminator(model.backbone, img_resolution, img_width, seed=seed, precision=precision)
