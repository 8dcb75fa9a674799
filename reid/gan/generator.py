"""StyleGAN3-type generator, written from "Alias-Free Generative Adversarial Networks".

One class per concept of the paper:

- `FullyConnected`: equalised-learning-rate linear layer (StyleGAN, §A.1 of
  Karras et al. 2019): weights stored at unit variance, scaled at run time.
- `MappingNetwork`: z -> w, 2 layers, learning-rate multiplier 0.01, with the
  running mean `w_avg` that truncation (psi) pulls towards.
- `SynthesisInput`: Fourier features (§3.1): sinusoids with frequencies inside
  the first layer's cutoff, rotated/translated by an affine of w[0].
- `SynthesisLayer`: modulated convolution (weight demodulation), input
  magnitude normalised by an EMA, then the filtered leaky ReLU (§3.2):
  upsample x2 -> bias + lrelu -> low-pass + downsample to the output rate.
- `SynthesisNetwork`: 14 layers + ToRGB whose cutoffs, stopbands and sampling
  rates follow the geometric schedule of §3.2 / Fig. 4b; 16 ws always.
- `Generator`: mapping + synthesis, `G(z, truncation_psi)` -> images in ~[-1, 1].

Config T uses 3x3 convolutions and separable sinc filters; config R uses 1x1
convolutions and radial (jinc) filters, except in the critically sampled
last layers.  Config stylegan2 (`StyleGAN2Synthesis`, "Analyzing and Improving
the Image Quality of StyleGAN", Fig. 7a) is the cheaper baseline NVIDIA's
StyleGAN3 repository offers beside them: a learnt constant, modulated 3x3
convs upsampling x2 per block, noise inputs and summed ToRGB outputs.
Every config makes square or 2:1 (or 4:1) images: pedestrians are twice as
tall as wide, and a square GAN would spend half its pixels on stretching.
Tensor names follow the official networks' state-dict names so that a
pretrained pickle transfers tensor by tensor.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reid.errors import ReidError
from reid.gan.resample import FilteredLeakyReluSpec, _depthwise, design_lowpass, filtered_leaky_relu

CONFIGS = ("T", "R", "stylegan2")
LRELU_GAIN = math.sqrt(2)
FULL_RATE_BLOCK_BYTES = 16 << 20  # half of glibc's largest mmap threshold (32 MiB on 64-bit)


class FullyConnected(nn.Module):
    """y = x W^T * (lr_mul / sqrt(in)) + b * lr_mul, with W ~ N(0, 1/lr_mul^2)."""

    def __init__(self, in_features, out_features, activation=False, lr_multiplier=1.0, weight_init=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_multiplier))
        self.bias = nn.Parameter(torch.as_tensor(np.broadcast_to(np.asarray(bias_init, np.float32), [out_features])
                                                 / lr_multiplier).clone())
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN if self.activation else x


class MappingNetwork(nn.Module):
    """z (normalised to unit second moment) -> w, broadcast to `num_ws` copies."""

    def __init__(self, z_dim=512, w_dim=512, num_ws=16, num_layers=2, lr_multiplier=0.01, w_avg_beta=0.998):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.w_avg_beta = z_dim, w_dim, num_ws, w_avg_beta
        dims = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(dims[i], dims[i + 1], True, lr_multiplier))
        self.num_layers = num_layers
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_w_avg:
            self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1:
            x = self.w_avg.lerp(x, truncation_psi)
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)


class SynthesisInput(nn.Module):
    """Fourier features: sin(2*pi*(f . x + phase)) sampled on the first layer's (height, width) grid."""

    def __init__(self, w_dim, channels, size, sampling_rate, bandwidth):
        super().__init__()
        self.channels, self.size = channels, (int(size[0]), int(size[1]))
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # Frequencies uniform over the disk of radius `bandwidth`, phases uniform.
        radius = bandwidth * torch.rand(channels).sqrt()
        angle = 2 * math.pi * torch.rand(channels)
        self.register_buffer("freqs", torch.stack([radius * angle.cos(), radius * angle.sin()], 1))
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        self.weight = nn.Parameter(torch.randn(channels, channels))
        # w[0] -> (cos, sin, tx, ty): starts as the identity transform.
        self.affine = FullyConnected(w_dim, 4, weight_init=0.0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3))  # a user transform, e.g. to translate the output

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        params = self.affine(w)
        rotation = params[:, :2] / params[:, :2].norm(dim=1, keepdim=True)
        n = w.shape[0]
        eye = torch.eye(3, device=w.device).expand(n, 3, 3)
        m_rotate = eye.clone()
        m_rotate[:, 0, 0], m_rotate[:, 0, 1] = rotation[:, 0], -rotation[:, 1]
        m_rotate[:, 1, 0], m_rotate[:, 1, 1] = rotation[:, 1], rotation[:, 0]
        m_translate = eye.clone()
        m_translate[:, 0, 2], m_translate[:, 1, 2] = -params[:, 2], -params[:, 3]
        transform = m_rotate @ m_translate @ self.transform.unsqueeze(0)

        # Transform the frequencies and phases instead of the sampling grid.
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transform[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transform[:, :2, :2]
        # Fade out frequencies that the grid cannot represent (they would alias).
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Both axes are sampled at the same rate, so a taller grid covers a longer extent.
        ys, xs = ((torch.arange(size, device=w.device, dtype=w.dtype) + 0.5 - size / 2) / self.sampling_rate
                  for size in self.size)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # (H, W, 2) as (x, y)
        x = grid.reshape(1, -1, 2) @ freqs.transpose(1, 2) + phases.unsqueeze(1)  # (N, H*W, C)
        x = torch.sin(2 * math.pi * x) * amplitudes.unsqueeze(1)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.view(n, *self.size, self.channels).permute(0, 3, 1, 2)  # channels-last, no copy


def upsample_2x(x: torch.Tensor, kernel: torch.Tensor, crop: int = 1) -> torch.Tensor:
    """Zero insertion x2 then the 2-D low-pass `kernel` (gain 4), as one grouped transposed convolution.

    With StyleGAN2's 4x4 binomial kernel and crop 1 the output is exactly twice the input size.
    """
    c = x.shape[1]
    return F.conv_transpose2d(x, _depthwise(kernel * 4, c, x.dtype), stride=2, padding=crop, groups=c)


def upsample_conv2d(x, weight, bias=None, kernel=None):
    """StyleGAN2's upsampling convolution: a stride-2 transposed conv, then the low-pass `kernel` (gain 4).

    The flip makes it a zero-insert-then-correlate with `weight`, as every other conv is.
    """
    x = F.conv_transpose2d(x, weight.flip([2, 3]).transpose(0, 1), stride=2)  # 2n + 1 samples
    c = x.shape[1]
    x = F.conv2d(F.pad(x, [1, 1, 1, 1]), _depthwise(kernel * 4, c, x.dtype), groups=c)
    return x if bias is None else x + bias.view(1, -1, 1, 1)


def modulated_conv2d(x, weight, styles, bias, demodulate=True, input_gain=1.0, padding=0, up_kernel=None):
    """StyleGAN2 modulated convolution plus bias, in the "non-fused" form (StyleGAN2 §2.2).

    Scaling the input channels by the styles, convolving with the shared
    weight and scaling the output channels by the demodulation coefficients
    equals convolving each sample with its own modulated, demodulated weight,
    but runs as one ordinary (non-grouped) convolution over the whole batch,
    which is much faster on CPU, forward and backward, than a grouped one.
    The constant `input_gain` joins the styles and the bias joins the
    demodulation (one addcmul), so that each costs no pass over the activations.
    With `up_kernel` the convolution doubles the resolution (`upsample_conv2d`).
    """
    x = x * (styles * input_gain)[:, :, None, None]
    conv = partial(F.conv2d, padding=padding) if up_kernel is None else partial(upsample_conv2d, kernel=up_kernel)
    if not demodulate:
        return conv(x, weight, bias)
    # sum over (in, kh, kw) of (weight * style)^2, for every (sample, out channel)
    coefficients = (styles.square() @ weight.square().sum([2, 3]).t() + 1e-8).rsqrt()
    return torch.addcmul(bias.view(1, -1, 1, 1), conv(x, weight), coefficients[:, :, None, None])


class SynthesisLayer(nn.Module):
    """Modulated conv at the input rate, then the filtered leaky ReLU to the output rate."""

    def __init__(self, w_dim, is_torgb, is_critically_sampled, use_radial_filters, in_channels, out_channels,
                 in_size, out_size, in_sampling_rate, out_sampling_rate, in_cutoff, out_cutoff,
                 in_half_width, out_half_width, conv_kernel=3, filter_size=6, lrelu_upsampling=2,
                 conv_clamp=256, magnitude_ema_beta=0.999):
        super().__init__()
        self.is_torgb = is_torgb
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size, self.out_size = tuple(map(int, in_size)), tuple(map(int, out_size))  # (height, width)
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # The nonlinearity runs at a higher rate so that its new harmonics can be filtered out.
        temp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up_factor = int(round(temp_rate / in_sampling_rate))
        self.down_factor = int(round(temp_rate / out_sampling_rate))
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial_down = use_radial_filters and not is_critically_sampled
        self.register_buffer("up_filter", design_lowpass(up_taps, in_cutoff, in_half_width * 2, temp_rate))
        self.register_buffer("down_filter", design_lowpass(down_taps, out_cutoff, out_half_width * 2, temp_rate,
                                                           radial=radial_down))
        # Padding so that the output has exactly out_size samples, placed symmetrically
        # around the centre of the signal (each size is odd/even consistently). Widths
        # differ from heights by the same number of samples at the full rate, so one
        # padding serves both axes.
        pad_totals = {(out - 1) * self.down_factor + down_taps - (inp + self.conv_kernel - 1) * self.up_factor
                      + up_taps - 1 for inp, out in zip(self.in_size, self.out_size)}
        if len(pad_totals) != 1:
            raise ReidError(f"synthesis layer {in_size} -> {out_size} would need different paddings per axis")
        pad_total = pad_totals.pop()
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = (pad_lo, pad_total - pad_lo)
        self.up_taps, self.down_taps = up_taps, down_taps
        self.nonlinearity = FilteredLeakyReluSpec(
            self.up_factor, self.down_factor, self.padding, gain=1.0 if is_torgb else LRELU_GAIN,
            slope=1.0 if is_torgb else 0.2, clamp=conv_clamp)

    def forward(self, x: torch.Tensor, w: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        if update_emas:
            magnitude = x.detach().float().square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        x = modulated_conv2d(x, self.weight, styles, self.bias, demodulate=not self.is_torgb,
                             input_gain=self.magnitude_ema.rsqrt(), padding=self.conv_kernel - 1)
        if torch.is_grad_enabled() and x.requires_grad:
            return self._filtered_lrelu(x)
        return self._filtered_lrelu_in_blocks(x)

    def _filtered_lrelu(self, x: torch.Tensor) -> torch.Tensor:
        return filtered_leaky_relu(x, self.up_filter, self.down_filter, self.nonlinearity)

    def _filtered_lrelu_in_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """Without autograd, run `_filtered_lrelu` on blocks of samples x channels with small full-rate tensors.

        A full-rate tensor of the whole batch is far above glibc's mmap threshold,
        so every layer would page-fault fresh memory in (about as slow as the
        filtering itself); blocks under the threshold reuse freed heap memory.
        """
        n, c, h, w = x.shape
        full_rate = [size * self.up_factor + sum(self.padding) - self.up_taps + 1 for size in (h, w)]
        channel_bytes = full_rate[0] * full_rate[1] * x.element_size()
        channels = max(1, min(c, FULL_RATE_BLOCK_BYTES // channel_bytes))
        samples = max(1, min(n, FULL_RATE_BLOCK_BYTES // (channel_bytes * channels)))
        if channels == c and samples == n:
            return self._filtered_lrelu(x)
        blocks = [torch.cat([self._filtered_lrelu(part[:, i:i + channels]) for i in range(0, c, channels)], 1)
                  for part in x.split(samples)]
        return torch.cat(blocks, 0)

    def extra_repr(self) -> str:
        return (f"in={self.in_channels}@{self.in_size}, out={self.out_channels}@{self.out_size}, "
                f"up={self.up_factor}, down={self.down_factor}, torgb={self.is_torgb}")


def layer_schedule(img_resolution, channel_base, channel_max, num_layers=14, num_critical=2, margin_size=10,
                   first_cutoff=2.0, first_stopband=2**2.1, last_stopband_rel=2**0.3):
    """Per-layer cutoff, stopband, sampling rate, size and channels (paper §3.2, Fig. 4b).

    Cutoffs and stopbands grow geometrically from the first layer to the last
    non-critical one; the last `num_critical` layers are critically sampled at
    the output resolution.  Entry i describes the output of layer i-1 (entry 0
    is the Fourier input).
    """
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    return cutoffs, sampling_rates, half_widths, sizes.astype(int), channels.astype(int)


class SynthesisNetwork(nn.Module):
    """Fourier input + 14 layers + ToRGB; consumes exactly 16 ws at every resolution.

    A rectangular image (height `img_resolution`, width `img_width`, e.g. 2:1
    for pedestrians) keeps the square schedule of rates and cutoffs along the
    height and samples the width at the same rate over a shorter extent, with
    the same margins: every layer is `aspect` times narrower inside its margins.
    """

    def __init__(self, w_dim=512, img_resolution=64, img_channels=3, cfg="T", channel_base=32768, channel_max=512,
                 num_layers=14, num_critical=2, margin_size=10, output_scale=0.25, conv_clamp=256, img_width=None):
        super().__init__()
        self.num_ws = num_layers + 2
        self.img_resolution, self.img_channels, self.output_scale = img_resolution, img_channels, output_scale
        self.img_width = img_width or img_resolution
        cutoffs, rates, half_widths, sizes, channels = layer_schedule(
            img_resolution, channel_base, channel_max, num_layers, num_critical, margin_size)
        widths = sizes - rates.astype(int) + rates.astype(int) * self.img_width // img_resolution
        sizes = list(zip(sizes, widths))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), sizes[0], rates[0], cutoffs[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            is_torgb = idx == num_layers
            layer = SynthesisLayer(
                w_dim, is_torgb, idx >= num_layers - num_critical, cfg == "R",
                in_channels=int(channels[prev]), out_channels=int(channels[idx]),
                in_size=sizes[prev], out_size=sizes[idx], in_sampling_rate=rates[prev], out_sampling_rate=rates[idx],
                in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev], out_half_width=half_widths[idx],
                conv_kernel=1 if cfg == "R" else 3, conv_clamp=conv_clamp,
            )
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        if ws.shape[1] != self.num_ws:
            raise ReidError(f"synthesis expects {self.num_ws} ws, got {ws.shape[1]}")
        x = self.input(ws[:, 0])
        for name, w in zip(self.layer_names, ws[:, 1:].unbind(1)):
            x = getattr(self, name)(x, w, update_emas)
        return (x * self.output_scale).contiguous()  # the layers run channels-last; images leave as NCHW


# StyleGAN2's [1, 3, 3, 1] binomial low-pass, as the normalised 4x4 kernel its networks store.
_BINOMIAL = torch.outer(torch.tensor([1.0, 3.0, 3.0, 1.0]), torch.tensor([1.0, 3.0, 3.0, 1.0])) / 64


class StyleConv(nn.Module):
    """StyleGAN2 layer: modulated 3x3 conv (optionally upsampling x2), per-pixel noise, bias, lrelu.

    No activation clamp: NVIDIA's guards float16 layers, and these run in float32. Without
    noise (NVIDIA's use_noise=False) the layer has no noise tensors at all.
    """

    def __init__(self, w_dim, in_channels, out_channels, size, up=False, noise=True):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if up:
            self.register_buffer("resample_filter", _BINOMIAL.clone())
        self.up = up
        self.noise = noise
        if noise:
            self.register_buffer("noise_const", torch.randn(*size))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), self.bias, padding=1,
                             up_kernel=self.resample_filter if self.up else None)
        if self.noise:
            # Fresh noise while training; the stored noise at inference, so that a w always gives the same image.
            noise = (torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) if self.training
                     else self.noise_const)
            x = torch.addcmul(x, noise, self.noise_strength)
        return F.leaky_relu(x, 0.2) * LRELU_GAIN


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation to RGB (StyleGAN2's skip outputs)."""

    def __init__(self, w_dim, in_channels, img_channels):
        super().__init__()
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        return modulated_conv2d(x, self.weight, styles, self.bias, demodulate=False)


class SynthesisBlock(nn.Module):
    """One resolution of the StyleGAN2 "skip" generator: (const | conv0 up) + conv1, image += ToRGB."""

    def __init__(self, w_dim, in_channels, out_channels, size, img_channels, noise=True):
        super().__init__()
        self.first = in_channels == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, *size))
        else:
            self.conv0 = StyleConv(w_dim, in_channels, out_channels, size, up=True, noise=noise)
            self.register_buffer("resample_filter", _BINOMIAL.clone())
        self.conv1 = StyleConv(w_dim, out_channels, out_channels, size, noise=noise)
        self.torgb = ToRGB(w_dim, out_channels, img_channels)
        self.num_styles = 2 if self.first else 3

    def forward(self, x, img, ws):
        if self.first:
            x = self.const.unsqueeze(0).expand(ws.shape[0], *self.const.shape)
            x = self.conv1(x, ws[:, 0])
        else:
            x = self.conv1(self.conv0(x, ws[:, 0]), ws[:, 1])
            img = upsample_2x(img, self.resample_filter)
        rgb = self.torgb(x, ws[:, -1])
        return x, rgb if img is None else img + rgb


class StyleGAN2Synthesis(nn.Module):
    """StyleGAN2 synthesis ("skip" generator, Karras et al. 2020, Fig. 7a) from a learnt 4 x (4 / aspect) constant.

    Blocks are named by their height (b4, b8, ..., as NVIDIA's networks_stylegan2.py names
    them, so that a pretrained square pickle transfers). Its 2 log2(H) - 2 style inputs
    (NVIDIA's num_ws; ToRGB shares the next block's first w) are spread evenly over 16 ws,
    so that the style-mixing layer groups mean coarse/middle/fine at every resolution.
    """

    def __init__(self, w_dim=512, img_resolution=64, img_channels=3, channel_base=32768, channel_max=512,
                 img_width=None, num_ws=16, noise=True):
        super().__init__()
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.img_width = img_width or img_resolution
        self.num_ws = num_ws
        self.block_names = []
        in_channels = 0
        for log_res in range(2, int(math.log2(img_resolution)) + 1):
            res = 2**log_res
            out_channels = min(channel_base // res, channel_max)
            name = f"b{res}"
            size = (res, res * self.img_width // img_resolution)
            setattr(self, name, SynthesisBlock(w_dim, in_channels, out_channels, size, img_channels, noise))
            self.block_names.append(name)
            in_channels = out_channels
        num_styles = 2 * len(self.block_names)
        self.register_buffer("w_index", torch.linspace(0, num_ws - 1, num_styles).round().long(), persistent=False)

    def forward(self, ws: torch.Tensor, update_emas: bool = False) -> torch.Tensor:
        if ws.shape[1] != self.num_ws:
            raise ReidError(f"synthesis expects {self.num_ws} ws, got {ws.shape[1]}")
        styles = ws[:, self.w_index]
        x = img = None
        first = 0
        for name in self.block_names:
            block = getattr(self, name)
            x, img = block(x, img, styles[:, first : first + block.num_styles])
            first += block.num_styles - 1  # ToRGB's w is the next block's first
        return img


class Generator(nn.Module):
    """G(z) = synthesis(mapping(z)); images (height img_resolution, width img_width) in about [-1, 1]."""

    def __init__(self, z_dim=512, w_dim=512, img_resolution=64, img_channels=3, cfg="T", channel_base=32768,
                 channel_max=512, mapping_layers=2, img_width=None, noise=True, **synthesis_kwargs):
        """`noise`: the stylegan2 config's per-pixel noise inputs; T and R have none, so it is ignored there."""
        super().__init__()
        if cfg not in CONFIGS:
            raise ReidError(f"gan.cfg must be one of {CONFIGS}, got {cfg!r}")
        if img_resolution < 16 or img_resolution & (img_resolution - 1):
            raise ReidError(f"gan.resolution must be a power of two >= 16, got {img_resolution}")
        img_width = img_width or img_resolution
        if img_width not in (img_resolution, img_resolution // 2, img_resolution // 4):
            raise ReidError(f"gan.width must be the resolution, or its half or quarter, got {img_width}")
        self.z_dim, self.w_dim, self.img_resolution, self.img_width, self.img_channels, self.cfg = (
            z_dim, w_dim, img_resolution, img_width, img_channels, cfg)
        if cfg == "stylegan2":
            self.synthesis = StyleGAN2Synthesis(w_dim, img_resolution, img_channels, channel_base, channel_max,
                                                img_width=img_width, noise=noise, **synthesis_kwargs)
        else:
            self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, cfg, channel_base, channel_max,
                                              img_width=img_width, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, mapping_layers)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_emas: bool = False) -> torch.Tensor:
        ws = self.mapping(z, truncation_psi, update_w_avg=update_emas)
        return self.synthesis(ws, update_emas)
