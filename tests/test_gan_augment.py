"""DiffAugment: identity when off, differentiable, and each transform does what the paper says."""

from __future__ import annotations

import pytest
import torch

from reid.errors import ReidError
from reid.gan.augment import diff_augment, parse_policy

POLICY = "color,translation,cutout"


def test_empty_policy_is_the_identity():
    x = torch.randn(4, 3, 16, 8)
    assert torch.equal(diff_augment(x, ""), x)
    assert parse_policy(" color , cutout ") == ("color", "cutout")
    with pytest.raises(ReidError, match="unknown transform 'zoom'"):
        parse_policy("color,zoom")


def test_gradients_flow_through_every_transform():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 16, 8, requires_grad=True)
    y = diff_augment(x, POLICY)
    assert y.shape == x.shape
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # second order, as the R1 penalty through the augmentation needs
    (grad,) = torch.autograd.grad(diff_augment(x, POLICY).square().sum(), x, create_graph=True)
    grad.square().sum().backward()


def test_translation_shifts_by_at_most_an_eighth_with_zero_fill():
    torch.manual_seed(0)
    x = torch.arange(1, 32 * 16 + 1, dtype=torch.float32).view(1, 1, 32, 16).repeat(64, 1, 1, 1)
    y = diff_augment(x, "translation")
    for image in y[:, 0]:
        kept = image[image > 0]
        # the surviving values are a contiguous window of the original, shifted by <= 4 rows and 2 columns
        rows, cols = (kept - 1).div(16, rounding_mode="floor"), (kept - 1) % 16
        assert 28 <= rows.unique().numel() <= 32 and 14 <= cols.unique().numel() <= 16
    assert (y == 0).any() and not all(torch.equal(y[0], image) for image in y[1:])  # drawn per image


def test_cutout_zeroes_a_quarter_and_color_keeps_shape():
    torch.manual_seed(0)
    x = torch.ones(32, 3, 16, 8)
    y = diff_augment(x, "cutout")
    zero_share = (y[:, 0] == 0).float().mean([1, 2])
    assert (zero_share <= 0.25 + 1e-6).all() and zero_share.max() == pytest.approx(0.25)
    assert torch.equal(y[:, 0], y[:, 2])  # the same rectangle in every channel
    z = diff_augment(torch.rand(8, 3, 16, 8), "color")
    assert z.shape == (8, 3, 16, 8) and torch.isfinite(z).all()
