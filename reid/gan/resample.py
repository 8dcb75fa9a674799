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


def _upsample_axes(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int], dims: tuple) -> torch.Tensor:
    """One transposed convolution along the spatial axes `dims`, windowed as `upsample` says.

    The window is cut by the convolution's own `padding` where it is symmetric,
    so no samples outside it are computed and no narrowed copy is made.
    """
    numtaps = kernel.shape[dims[0] - 2]
    length = x.shape[dims[0]]
    start = numtaps - 1 - pad[0]
    out_len = length * up + pad[0] + pad[1] - numtaps + 1
    full_len = (length - 1) * up + numtaps
    crop = max(0, min(start, full_len - start - out_len))
    stride, padding = [1, 1], [0, 0]
    for d in dims:
        stride[d - 2], padding[d - 2] = up, crop
    weight = _depthwise(kernel, x.shape[1], x.dtype)
    y = F.conv_transpose2d(x, weight, stride=stride, padding=padding, groups=x.shape[1])
    for d in dims:
        y = _window(y, start - crop, out_len, d)
    return y


def _window(y: torch.Tensor, start: int, length: int, dim: int) -> torch.Tensor:
    """y[start : start + length] along `dim`, reading zeros outside y."""
    before, after = max(0, -start), max(0, start + length - y.shape[dim])
    if before or after:
        spec = [0, 0, 0, 0]
        spec[(3 - dim) * 2] = before
        spec[(3 - dim) * 2 + 1] = after
        y = F.pad(y, spec)
        start += before
    return y.narrow(dim, start, length)


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
