"""Low-pass filter design and polyphase resampling for alias-free layers.

StyleGAN3 ("Alias-Free Generative Adversarial Networks", Karras et al. 2021,
§3.2 and Appendix C) treats feature maps as samples of continuous signals:
upsampling is zero insertion followed by an ideal-ish low-pass filter, and
downsampling is low-pass filtering followed by decimation.  Both filters are
Kaiser-windowed sinc (config T, separable) or jinc (config R, radial) kernels.

Here zero insertion is never materialised: upsampling is a transposed
convolution with stride `up` (each output phase uses only the taps that meet
real samples) and downsampling is a strided convolution that computes only
the samples it keeps.  Separable filters run as two 1-D passes.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F


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


def _depthwise(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    """(kh, kw) kernel -> (channels, 1, kh, kw) weight for a grouped convolution."""
    return kernel.to(torch.float32)[None, None].expand(channels, 1, *kernel.shape)


def upsample(x: torch.Tensor, taps: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Zero-insert by `up`, zero-pad (lo, hi), filter (valid) — computed as a transposed convolution.

    A transposed convolution of stride `up` yields the full convolution of the
    zero-inserted signal; the padding then only selects (or extends) a window
    of it, so the output has length L*up + lo + hi - K + 1 per spatial axis.
    """
    if up == 1 and taps.numel() == 1:
        return F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    channels = x.shape[1]
    if taps.ndim == 1:
        x = _upsample_axis(x, taps, up, pad, dim=3)
        return _upsample_axis(x, taps, up, pad, dim=2)
    size = taps.shape[0]
    y = F.conv_transpose2d(x, _depthwise(taps * up * up, channels).to(x.dtype), stride=up, groups=channels)
    return _window(_window(y, size, pad, x.shape[2] * up, 2), size, pad, x.shape[3] * up, 3)


def _upsample_axis(x: torch.Tensor, taps: torch.Tensor, up: int, pad: tuple[int, int], dim: int) -> torch.Tensor:
    channels = x.shape[1]
    kernel = (taps * up).view(-1, 1) if dim == 2 else (taps * up).view(1, -1)
    stride = (up, 1) if dim == 2 else (1, up)
    y = F.conv_transpose2d(x, _depthwise(kernel, channels).to(x.dtype), stride=stride, groups=channels)
    return _window(y, taps.numel(), pad, x.shape[dim] * up, dim)


def _window(full: torch.Tensor, numtaps: int, pad: tuple[int, int], upsampled_len: int, dim: int) -> torch.Tensor:
    """Select the part of a full convolution that `pad` + valid filtering would give.

    With zero-inserted length N = L*up, the valid output index i maps to
    full-convolution index i + K - 1 - lo; indices outside are zeros.
    """
    start = numtaps - 1 - pad[0]
    length = upsampled_len + pad[0] + pad[1] - numtaps + 1
    before, after = max(0, -start), max(0, start + length - full.shape[dim])
    if before or after:
        spec = [0, 0, 0, 0]
        spec[(3 - dim) * 2] = before
        spec[(3 - dim) * 2 + 1] = after
        full = F.pad(full, spec)
        start += before
    return full.narrow(dim, start, length)


def downsample(x: torch.Tensor, taps: torch.Tensor, down: int) -> torch.Tensor:
    """Filter (valid) and keep every `down`-th sample, computing only the kept ones."""
    if down == 1 and taps.numel() == 1:
        return x
    channels = x.shape[1]
    if taps.ndim == 1:
        x = F.conv2d(x, _depthwise(taps.view(1, -1), channels).to(x.dtype), stride=(1, down), groups=channels)
        return F.conv2d(x, _depthwise(taps.view(-1, 1), channels).to(x.dtype), stride=(down, 1), groups=channels)
    return F.conv2d(x, _depthwise(taps, channels).to(x.dtype), stride=down, groups=channels)
