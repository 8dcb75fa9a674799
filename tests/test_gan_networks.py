"""StyleGAN3-type networks: resampling against explicit references, shapes, ws, equivariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reid.errors import ReidError
from reid.gan.discriminator import Discriminator, MinibatchStd
from reid.gan.generator import Generator, layer_schedule
from reid.gan.resample import (
    FilteredLeakyReluSpec,
    design_lowpass,
    downsample,
    downsample_adjoint,
    filtered_leaky_relu,
    upsample,
    upsample_adjoint,
)

SMALL = dict(z_dim=32, w_dim=32, channel_base=1024, channel_max=32)


def reference_upfirdn(x, taps, up, pad):
    """Zero insertion, zero padding and valid filtering, spelled out (no polyphase tricks)."""
    n, c, h, w = x.shape
    zeros = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    zeros[:, :, ::up, ::up] = x
    padded = F.pad(zeros, (pad[0], pad[1], pad[0], pad[1]))
    kernel = torch.outer(taps, taps) if taps.ndim == 1 else taps
    kernel = (kernel * up * up).flip(0, 1)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(padded, kernel.to(x.dtype), groups=c)


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("up,pad", [(2, (5, 4)), (2, (14, 13)), (4, (0, 3)), (1, (2, 2))])
def test_polyphase_upsample_matches_zero_insertion(radial, up, pad):
    taps = design_lowpass(6 * up if up > 1 else 5, 3.0, 4.0, 8.0 * up, radial=radial).double()
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(upsample(x, taps, up, pad), reference_upfirdn(x, taps, up, pad), rtol=0, atol=1e-12)


@pytest.mark.parametrize("radial", [False, True])
def test_strided_downsample_matches_filter_then_decimate(radial):
    taps = design_lowpass(12, 4.0, 3.0, 32.0, radial=radial).double()
    x = torch.randn(2, 3, 20, 20, dtype=torch.float64)
    kernel = torch.outer(taps, taps) if taps.ndim == 1 else taps
    full = F.conv2d(x, kernel.flip(0, 1)[None, None].repeat(3, 1, 1, 1), groups=3)
    torch.testing.assert_close(downsample(x, taps, 2), full[:, :, ::2, ::2], rtol=0, atol=1e-12)


def reference_filter_decimate(x, taps, down, gain=1.0):
    """Full-rate valid filtering, then keeping every `down`-th sample (computes all discarded ones)."""
    kernel = torch.outer(taps, taps) if taps.ndim == 1 else taps
    weight = (kernel * gain).flip(0, 1)[None, None].repeat(x.shape[1], 1, 1, 1).to(x.dtype)
    full = F.conv2d(x, weight, groups=x.shape[1])
    return full[:, :, ::down, ::down]


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("up,pad", [(2, (9, 8)), (2, (11, 10)), (4, (-6, -9)), (4, (0, 3)), (2, (-11, -12))])
def test_fast_resampling_matches_reference_forward_and_gradient_float32(radial, up, pad):
    """Cropping by transposed-conv padding, channels-last inputs and the folded gain, against the spelled-out math."""
    torch.manual_seed(0)
    up_taps = design_lowpass(6 * up, 3.0, 4.0, 8.0 * up, radial=radial)
    down_taps = design_lowpass(12, 4.0, 3.0, 16.0, radial=radial)
    x = torch.randn(2, 5, 24, 24).contiguous(memory_format=torch.channels_last).requires_grad_()
    fast = downsample(upsample(x, up_taps, up, pad), down_taps, 2, gain=1.5)
    slow = reference_filter_decimate(reference_upfirdn(x, up_taps, up, pad), down_taps, 2, gain=1.5)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(slow)
    (fast_grad,) = torch.autograd.grad(fast, x, upstream)
    (slow_grad,) = torch.autograd.grad(slow, x, upstream)
    torch.testing.assert_close(fast_grad, slow_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("up,pad,size", [(2, (9, 8), 12), (4, (-6, -9), 15), (2, (-11, -12), 24), (1, (2, 3), 7)])
def test_adjoints_are_the_transposes(radial, up, pad, size):
    """<A x, g> = <x, A^T g> for upsample and downsample, odd and even sizes, cropped and padded windows."""
    torch.manual_seed(1)
    up_taps = design_lowpass(6 * up if up > 1 else 1, 3.0, 4.0, 8.0 * up, radial=radial).double()
    down_taps = design_lowpass(12, 4.0, 3.0, 16.0, radial=radial).double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    y = upsample(x, up_taps, up, pad)
    g = torch.randn_like(y)
    adjoint = upsample_adjoint(g, up_taps, up, pad, (size, size))
    assert adjoint.shape == x.shape
    torch.testing.assert_close((y * g).sum(), (x * adjoint).sum(), rtol=1e-12, atol=1e-10)
    z = downsample(y, down_taps, 2, gain=1.5)
    h = torch.randn_like(z)
    adjoint = downsample_adjoint(h, down_taps, 2, y.shape[2:], gain=1.5)
    assert adjoint.shape == y.shape
    torch.testing.assert_close((z * h).sum(), (y * adjoint).sum(), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("radial", [False, True])
@pytest.mark.parametrize("up,down,pad,slope,gain", [(2, 2, (9, 8), 0.2, math.sqrt(2)), (4, 2, (-6, -9), 0.2, 2.0),
                                                    (1, 1, (0, 0), 1.0, 1.0)])
def test_filtered_leaky_relu_backward_equals_autograd(radial, up, down, pad, slope, gain):
    """The hand-written backward against autograd through the same ops, clamping included (channels-last)."""
    torch.manual_seed(2)
    up_taps = design_lowpass(6 * up if up > 1 else 1, 3.0, 4.0, 8.0 * up, radial=radial)
    down_taps = design_lowpass(6 * down if down > 1 else 1, 4.0, 3.0, 16.0, radial=radial)
    spec = FilteredLeakyReluSpec(up, down, pad, gain=gain, slope=slope, clamp=1.0)
    x = (3 * torch.randn(2, 4, 14, 14)).contiguous(memory_format=torch.channels_last).requires_grad_()
    low, high = spec.bounds()
    reference = downsample(F.leaky_relu(upsample(x, up_taps, up, pad).clamp(low, high), slope), down_taps, down, gain)
    fused = filtered_leaky_relu(x, up_taps, down_taps, spec)
    torch.testing.assert_close(fused, reference, rtol=0, atol=0)
    clamped = upsample(x, up_taps, up, pad).detach()
    assert ((clamped < low) | (clamped > high)).float().mean() > 0.05  # the clamp is exercised
    upstream = torch.randn_like(reference)
    (expected,) = torch.autograd.grad(reference, x, upstream)
    (got,) = torch.autograd.grad(fused, x, upstream)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cfg", ["T", "R"])
def test_blockwise_inference_equals_whole_batch_autograd_path(cfg, monkeypatch):
    """Without autograd the layers filter blocks of samples x channels; the images must not change."""
    import reid.gan.generator as generator

    torch.manual_seed(0)
    G = Generator(img_resolution=16, cfg=cfg, **SMALL)
    ws = G.mapping(torch.randn(3, 32)).detach()
    whole = G.synthesis(ws).detach()  # parameters require grad: the whole-batch path
    monkeypatch.setattr(generator, "FULL_RATE_BLOCK_BYTES", 3 * 42 * 42 * 4)  # a few channels of one sample
    with torch.no_grad():
        blocked = G.synthesis(ws)
    torch.testing.assert_close(blocked, whole, rtol=1e-5, atol=1e-6)


def test_lowpass_design_passes_low_and_stops_high_frequencies():
    fs, cutoff, width = 64.0, 8.0, 8.0
    for radial in (False, True):
        taps = design_lowpass(24, cutoff, width, fs, radial=radial).double()
        assert taps.sum().item() == pytest.approx(1.0, abs=1e-6)
        kernel = taps if radial else torch.outer(taps, taps)
        assert torch.allclose(kernel, kernel.flip(0)) and torch.allclose(kernel, kernel.t())
        response = np.abs(np.fft.fft2(kernel.numpy(), s=(256, 256)))
        freqs = np.fft.fftfreq(256, d=1 / fs)
        assert response[np.argmin(abs(freqs - cutoff / 2)), 0] > 0.9
        assert response[np.argmin(abs(freqs - (cutoff + width))), 0] < 0.05
    assert design_lowpass(1, 1, 1, 1).tolist() == [1.0]


@pytest.mark.parametrize("cfg", ["T", "R"])
@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_generator_shapes_and_16_ws(cfg, resolution):
    torch.manual_seed(0)
    G = Generator(img_resolution=resolution, cfg=cfg, **SMALL).eval()
    assert G.num_ws == 16 and G.mapping.num_ws == 16
    with torch.no_grad():
        ws = G.mapping(torch.randn(3, 32))
        images = G.synthesis(ws)
    assert ws.shape == (3, 16, 32)
    assert images.shape == (3, 3, resolution, resolution)
    assert torch.isfinite(images).all() and images.abs().max() < 5
    names = G.synthesis.layer_names
    assert len(names) == 15 and names[-1].endswith(f"_{resolution}_3")
    kernel = 1 if cfg == "R" else 3
    assert getattr(G.synthesis, names[0]).weight.shape[-1] == kernel
    radial = [getattr(G.synthesis, n).down_filter.ndim == 2 for n in names[:-3]]
    assert all(radial) if cfg == "R" else not any(radial)


def test_official_names_and_paper_channel_counts():
    cutoffs, rates, _, sizes, channels = layer_schedule(64, 32768, 512)
    assert cutoffs[0] == 2 and cutoffs[-1] == 32 and rates[-1] == 64
    assert (channels == 512).all() and sizes[0] == 36 and sizes[-1] == 64
    G = Generator(img_resolution=16, cfg="T", **SMALL)
    state = G.state_dict()
    for name in ("mapping.fc0.weight", "mapping.fc1.bias", "mapping.w_avg", "synthesis.input.freqs",
                 "synthesis.input.affine.weight", "synthesis.input.transform", "synthesis.L0_36_32.magnitude_ema",
                 "synthesis.L14_16_3.weight"):
        assert name in state, name


def test_truncation_pulls_towards_w_avg():
    torch.manual_seed(0)
    G = Generator(img_resolution=16, **SMALL).eval()
    G.mapping.w_avg.normal_()
    z = torch.randn(4, 32)
    ws = G.mapping(z, truncation_psi=0.0)
    assert torch.allclose(ws, G.mapping.w_avg.expand_as(ws))
    half = G.mapping(z, truncation_psi=0.5)
    full = G.mapping(z)
    torch.testing.assert_close(half, (full + ws) / 2)
    with torch.no_grad():
        images = G(z, truncation_psi=0.0)
    assert torch.allclose(images[0], images[1], atol=1e-5)


def test_update_emas_tracks_w_avg_and_magnitudes():
    torch.manual_seed(0)
    G = Generator(img_resolution=16, **SMALL)
    before = G.synthesis.L0_36_32.magnitude_ema.clone()
    with torch.no_grad():
        G(torch.randn(4, 32), update_emas=True)
    assert G.mapping.w_avg.abs().sum() > 0
    assert not torch.equal(before, G.synthesis.L0_36_32.magnitude_ema)


def _psnr(a, b, peak):
    return 10 * math.log10(peak**2 / ((a - b) ** 2).mean().item())


@pytest.mark.parametrize("cfg", ["T", "R"])
def test_translating_fourier_input_translates_output(cfg):
    """Config T is built to be translation equivariant: measure it on integer shifts."""
    torch.manual_seed(0)
    res, margin = 32, 4
    G = Generator(img_resolution=res, cfg=cfg, **SMALL).eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn(4, 32))
        reference = G.synthesis(ws)
        peak = (reference.max() - reference.min()).item()
        for shift in (1, 3):
            G.synthesis.input.transform[0, 2] = -shift / res  # move the content `shift` pixels right
            moved = G.synthesis(ws)
            G.synthesis.input.transform.copy_(torch.eye(3))
            aligned = _psnr(moved[..., margin:-margin, margin + shift : res - margin],
                            reference[..., margin:-margin, margin : res - margin - shift], peak)
            unaligned = _psnr(moved[..., margin:-margin, margin:-margin], reference[..., margin:-margin, margin:-margin],
                              peak)
            print(f"cfg {cfg} shift {shift}px: EQ-T PSNR {aligned:.1f} dB (unaligned {unaligned:.1f} dB)")
            assert aligned > 50 and aligned > unaligned + 20


def test_discriminator_and_minibatch_std():
    torch.manual_seed(0)
    for res in (16, 64):
        D = Discriminator(res, channel_base=1024, channel_max=32)
        assert D(torch.randn(6, 3, res, res)).shape == (6,)
    x = torch.randn(8, 5, 4, 4)
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 6, 4, 4)
    expected = x.reshape(4, 2, 5, 4, 4).std(0, unbiased=False).mean([1, 2, 3])
    torch.testing.assert_close(out[:2, -1, 0, 0], expected, atol=1e-4, rtol=1e-4)
    assert MinibatchStd(4)(torch.randn(3, 2, 4, 4)).shape == (3, 3, 4, 4)


def test_bad_generator_config():
    with pytest.raises(ReidError, match="gan.cfg must be one of"):
        Generator(cfg="X", **SMALL)
    with pytest.raises(ReidError, match="power of two"):
        Generator(img_resolution=48, **SMALL)
