"""Low-pass filter design and polyphase resampling for alias-free layers.

StyleGAN3 ("Alias-Free Generative Adversarial Networks", Karras et al. 2021,
§3.2 and Appendix C) treats feature maps as samples of continuous signals:
upsampling is zero insertion followed by an ideal-ish low-pass filter, and
downsampling is low-pass filtering followed by decimation.  Both filters are
Kaiser-windowed sinc (config T, separable) or jinc (config R, radial) kernels.

Here zero insertion is never materialised: upsampling is a transposed
convolution with stride `up` (each output phase uses only the taps that meet
real samples) and downsampling is a strided convolution that computes only
the samples it keeps.  Separable filters run as two 1-D passes.  Inputs may
be channels-last, which the generator uses: oneDNN's depthwise kernels then
vectorise over channels and run several times faster than on NCHW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def kaiser_beta(numtaps: int, width: float, fs: float) -> float:
    """Kaiser window beta for a transition band `width` (same units as `fs`), after Kaiser's formulas."""
    attenuation = scipy.signal.kaiser_atten(numtaps, width / (fs / 2))
    return float(scipy.signal.kaiser_beta(attenuation))


def design_lowpass(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor:
    """Unit-DC-gain low-pass FIR: 1-D (numtaps,) sinc, or 2-D (numtaps, numtaps) jinc when `radial`.

    A single tap means "no filter" (the identity), used when a layer does not resample.
    """
    if numtaps == 1:
        return torch.ones(1, 1) if radial else torch.ones(1)
    if not radial:
        taps = scipy.signal.firwin(numtaps, cutoff, width=width, fs=fs)
        return torch.as_tensor(taps, dtype=torch.float32)
    positions = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    radius = np.hypot(*np.meshgrid(positions, positions))
    with np.errstate(invalid="ignore", divide="ignore"):
        jinc = scipy.special.j1(2 * np.pi * cutoff * radius) / (np.pi * radius)
    jinc[radius == 0] = np.pi * cutoff  # limit of j1(2*pi*fc*r)/(pi*r) at r = 0
    window = np.kaiser(numtaps, kaiser_beta(numtaps, width, fs))
    taps = jinc * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


def _depthwise(kernel: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """(kh, kw) kernel -> (channels, 1, kh, kw) weight for a grouped convolution."""
    return kernel.to(dtype)[None, None].expand(channels, 1, *kernel.shape)


def upsample(x: torch.Tensor, taps: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Zero-insert by `up`, zero-pad (lo, hi), filter (valid) — computed as a transposed convolution.

    A transposed convolution of stride `up` yields the full convolution of the
    zero-inserted signal; the padding then only selects (or extends) a window
    of it, so the output has length L*up + lo + hi - K + 1 per spatial axis.
    The result is always a new tensor, so callers may modify it in place.
    """
    if up == 1 and taps.numel() == 1:
        return F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    if taps.ndim == 1:
        x = _upsample_axes(x, (taps * up).view(1, -1), up, pad, dims=(3,))
        return _upsample_axes(x, (taps * up).view(-1, 1), up, pad, dims=(2,))
    return _upsample_axes(x, taps * up * up, up, pad, dims=(2, 3))


@dataclass(frozen=True)
class _Window:
    """Where `upsample`'s output lies in the full transposed convolution along one axis.

    The transposed convolution itself drops `crop` samples at each end (its
    symmetric `padding`, so they are never computed); the output is then the
    `length` samples from `start` of what is left (zeros where that reads outside).
    """

    crop: int
    start: int
    length: int
    conv_length: int  # samples the cropped transposed convolution yields

    @classmethod
    def of(cls, numtaps: int, in_length: int, up: int, pad: tuple[int, int]) -> "_Window":
        start = numtaps - 1 - pad[0]
        length = in_length * up + pad[0] + pad[1] - numtaps + 1
        full = (in_length - 1) * up + numtaps
        crop = max(0, min(start, full - start - length))
        return cls(crop, start - crop, length, full - 2 * crop)

    def conv_options(self, up: int, dims: tuple) -> dict:
        stride, padding = [1, 1], [0, 0]
        for d in dims:
            stride[d - 2], padding[d - 2] = up, self.crop
        return {"stride": stride, "padding": padding}


def _upsample_axes(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int], dims: tuple) -> torch.Tensor:
    """One transposed convolution along the spatial axes `dims`, windowed as `upsample` says."""
    window = _Window.of(kernel.shape[dims[0] - 2], x.shape[dims[0]], up, pad)
    y = F.conv_transpose2d(x, _depthwise(kernel, x.shape[1], x.dtype), groups=x.shape[1],
                           **window.conv_options(up, dims))
    for d in dims:
        y = _pad_axis(y, -window.start, window.start + window.length - y.shape[d], d)
    return y


def _pad_axis(y: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Zero-pad (or, for negative amounts, crop) spatial axis `dim`; a no-op returns y itself."""
    if before == 0 and after == 0:
        return y
    spec = [0, 0, 0, 0]
    spec[(3 - dim) * 2], spec[(3 - dim) * 2 + 1] = before, after
    return F.pad(y, spec)


def downsample(x: torch.Tensor, taps: torch.Tensor, down: int, gain: float = 1.0) -> torch.Tensor:
    """Filter (valid), scale by `gain` and keep every `down`-th sample, computing only the kept ones.

    `gain` rides on the first filter pass for free, so that a constant factor
    applied before the filter (the leaky ReLU gain) costs no full-rate pass.
    """
    if down == 1 and taps.numel() == 1:
        return x * gain if gain != 1 else x
    channels = x.shape[1]
    if taps.ndim == 1:
        x = F.conv2d(x, _depthwise(taps.view(1, -1) * gain, channels, x.dtype), stride=(1, down), groups=channels)
        return F.conv2d(x, _depthwise(taps.view(-1, 1), channels, x.dtype), stride=(down, 1), groups=channels)
    return F.conv2d(x, _depthwise(taps * gain, channels, x.dtype), stride=down, groups=channels)


def upsample_adjoint(g: torch.Tensor, taps: torch.Tensor, up: int, pad: tuple[int, int],
                     size: tuple[int, int]) -> torch.Tensor:
    """The transpose of `upsample` (input spatial `size`): the gradient of its input, by strided convolutions."""
    if up == 1 and taps.numel() == 1:
        return _pad_axis(_pad_axis(g, -pad[0], -pad[1], 2), -pad[0], -pad[1], 3)
    if taps.ndim == 1:  # the forward passes in reverse order: rows, then columns
        g = _upsample_axes_adjoint(g, (taps * up).view(-1, 1), up, pad, size[0], dims=(2,))
        return _upsample_axes_adjoint(g, (taps * up).view(1, -1), up, pad, size[1], dims=(3,))
    return _upsample_axes_adjoint(g, taps * up * up, up, pad, size[0], dims=(2, 3))


def _upsample_axes_adjoint(g: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int], length: int,
                           dims: tuple) -> torch.Tensor:
    """Transpose of `_upsample_axes`: un-window (pad or crop back), then the strided convolution."""
    window = _Window.of(kernel.shape[dims[0] - 2], length, up, pad)
    for d in dims:
        g = _pad_axis(g, window.start, window.conv_length - window.start - window.length, d)
    return F.conv2d(g, _depthwise(kernel, g.shape[1], g.dtype), groups=g.shape[1], **window.conv_options(up, dims))


def downsample_adjoint(g: torch.Tensor, taps: torch.Tensor, down: int, size: tuple[int, int],
                       gain: float = 1.0) -> torch.Tensor:
    """The transpose of `downsample` (input spatial `size`): transposed strided convolutions."""
    if down == 1 and taps.numel() == 1:
        return g * gain if gain != 1 else g
    channels = g.shape[1]
    extra = [(n - taps.shape[0]) % down for n in size]  # trailing input samples no output sample read
    if taps.ndim == 1:
        g = F.conv_transpose2d(g, _depthwise(taps.view(-1, 1), channels, g.dtype), stride=(down, 1),
                               output_padding=(extra[0], 0), groups=channels)
        return F.conv_transpose2d(g, _depthwise(taps.view(1, -1) * gain, channels, g.dtype), stride=(1, down),
                                  output_padding=(0, extra[1]), groups=channels)
    return F.conv_transpose2d(g, _depthwise(taps * gain, channels, g.dtype), stride=down,
                              output_padding=tuple(extra), groups=channels)


@dataclass(frozen=True)
class FilteredLeakyReluSpec:
    """One layer's nonlinearity: upsample, clamp(gain * lrelu(.)), downsample (StyleGAN3 §3.2)."""

    up: int
    down: int
    padding: tuple[int, int]
    gain: float
    slope: float
    clamp: float | None

    def bounds(self) -> tuple[float, float]:
        """clamp(gain * lrelu(u), -c, c) = gain * lrelu(clamp(u, low, high)): the gain then rides on the down filter."""
        return -self.clamp / (self.slope * self.gain), self.clamp / self.gain


def filtered_leaky_relu(x: torch.Tensor, up_filter: torch.Tensor, down_filter: torch.Tensor,
                        spec: FilteredLeakyReluSpec) -> torch.Tensor:
    """The filtered nonlinearity; under autograd its backward is written out (`_FilteredLeakyRelu`).

    Per channel only, so it is exact on any subset of channels.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return _FilteredLeakyRelu.apply(x, up_filter, down_filter, spec)
    return _filtered_leaky_relu(x, up_filter, down_filter, spec)


def _filtered_leaky_relu(x, up_filter, down_filter, spec):
    u = upsample(x, up_filter, spec.up, spec.padding)  # a fresh full-rate tensor: clamp and lrelu in place
    if spec.clamp is not None:
        u.clamp_(*spec.bounds())
    if spec.slope != 1:
        F.leaky_relu_(u, spec.slope)
    return downsample(u, down_filter, spec.down, spec.gain)


class _FilteredLeakyRelu(torch.autograd.Function):
    """Autograd would keep every full-rate tensor and run depthwise convolution backward kernels, which
    on CPU are several times slower than the forward ones and convert memory formats.  This backward
    recomputes the full-rate signal from the small input and applies the transposed filters with the
    same fast forward kernels, so only the input is kept."""

    @staticmethod
    def forward(ctx, x, up_filter, down_filter, spec):
        ctx.save_for_backward(x, up_filter, down_filter)
        ctx.spec = spec
        return _filtered_leaky_relu(x, up_filter, down_filter, spec)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, up_filter, down_filter = ctx.saved_tensors
        spec = ctx.spec
        u = upsample(x, up_filter, spec.up, spec.padding)
        grad = grad.contiguous(memory_format=_memory_format(u))
        g = downsample_adjoint(grad, down_filter, spec.down, u.shape[2:], spec.gain)
        if spec.clamp is not None:
            low, high = spec.bounds()
            torch.ops.aten.hardtanh_backward.grad_input(g, u, low, high, grad_input=g)  # g is fresh: in place
        if spec.slope != 1:
            torch.ops.aten.leaky_relu_backward.grad_input(g, u, spec.slope, False, grad_input=g)
        return upsample_adjoint(g, up_filter, spec.up, spec.padding, x.shape[2:]), None, None, None


def _memory_format(t: torch.Tensor) -> torch.memory_format:
    channels_last = t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format
