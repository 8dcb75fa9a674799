"""StyleGAN2-type residual discriminator (Karras et al. 2020, "Analyzing and Improving ...", Fig. 7b).

FromRGB at full resolution, residual blocks that halve the resolution down to
4x4, or 4x2 for 2:1 person crops (blur before each stride-2 step, 1/sqrt(2) on the residual sum), then an
epilogue with the minibatch standard deviation feature (Karras et al. 2018,
§3), a 3x3 conv and two fully connected layers to one logit.  StyleGAN3 kept
this discriminator.  All weights use the equalised learning rate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reid.gan.generator import LRELU_GAIN, FullyConnected

# Binomial [1, 3, 3, 1] low-pass before each downsampling step.
_BLUR = torch.tensor([1.0, 3.0, 3.0, 1.0])


class Conv2d(nn.Module):
    """Equalised-learning-rate convolution with optional blur + stride-2 downsampling and lrelu."""

    def __init__(self, in_channels, out_channels, kernel, bias=True, activation=True, down=False, conv_clamp=256):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel * kernel)
        self.activation, self.down, self.kernel, self.conv_clamp = activation, down, kernel, conv_clamp
        blur = torch.outer(_BLUR, _BLUR)
        self.register_buffer("blur", (blur / blur.sum())[None, None].repeat(in_channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.weight_gain
        if self.down:
            # Blur with enough padding that the stride-2 conv lands on a half-size grid.
            pad = (self.blur.shape[-1] - 2 + self.kernel - 1) // 2
            x = F.conv2d(F.pad(x, [pad] * 4), self.blur.to(x.dtype), groups=x.shape[1])
            x = F.conv2d(x, weight, self.bias, stride=2)
        else:
            x = F.conv2d(x, weight, self.bias, padding=self.kernel // 2)
        if self.activation:
            x = F.leaky_relu(x, 0.2) * LRELU_GAIN
            if self.conv_clamp is not None:
                x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class DiscriminatorBlock(nn.Module):
    """Two 3x3 convs (the second halves the resolution) plus a 1x1 downsampling skip."""

    def __init__(self, in_channels, mid_channels, out_channels):
        super().__init__()
        self.conv0 = Conv2d(in_channels, mid_channels, 3)
        self.conv1 = Conv2d(mid_channels, out_channels, 3, down=True)
        self.skip = Conv2d(in_channels, out_channels, 1, bias=False, activation=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class MinibatchStd(nn.Module):
    """Append the average over features of the per-group standard deviation as one channel."""

    def __init__(self, group_size=4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        if n % group:
            group = 1 if n < 2 else math.gcd(n, group)
        y = x.reshape(group, -1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean([1, 2, 3])  # (n / group,)
        y = y.reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, y], 1)


class Discriminator(nn.Module):
    """D(images in [-1, 1]) -> one real/fake logit per image."""

    def __init__(self, img_resolution=64, img_channels=3, channel_base=32768, channel_max=512, mbstd_group=4,
                 img_width=None):
        super().__init__()
        log_res = int(math.log2(img_resolution))
        last_width = 4 * (img_width or img_resolution) // img_resolution  # width of the 4-row epilogue

        def channels(res):
            return min(channel_base // res, channel_max)

        self.img_resolution, self.img_width = img_resolution, img_width or img_resolution
        self.from_rgb = Conv2d(img_channels, channels(img_resolution), 1)
        self.block_names = []
        for res in (2**i for i in range(log_res, 2, -1)):
            name = f"b{res}"
            setattr(self, name, DiscriminatorBlock(channels(res), channels(res), channels(res // 2)))
            self.block_names.append(name)
        c4 = channels(4)
        self.mbstd = MinibatchStd(mbstd_group)
        self.conv = Conv2d(c4 + 1, c4, 3)
        self.fc = FullyConnected(c4 * 4 * last_width, c4, activation=True)
        self.out = FullyConnected(c4, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.from_rgb(images)
        for name in self.block_names:
            x = getattr(self, name)(x)
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1))).squeeze(1)
