"""The projected discriminator: heads on a frozen re-ID trunk (Projected GAN), used through the usual losses."""

from __future__ import annotations

import pytest
import torch

from reid.errors import ReidError
from reid.gan.projected import ProjectedDiscriminator, load_projected_discriminator, trunk_dtype
from reid.gan.training import GanConfig, build_networks, discriminator_loss, generator_loss
from reid.models.baseline import ReidNet, save_model


@pytest.fixture
def reid_model(tmp_path):
    torch.manual_seed(0)
    model = ReidNet("resnet18", 3, bottleneck=16)
    model.train()
    model(torch.randn(4, 3, 64, 32))  # non-default BatchNorm statistics, so that using batch statistics shows
    path = tmp_path / "model.pt"
    settings = {"arch": "resnet18", "bottleneck": 16, "dropout": 0.5, "height": 64, "width": 32}
    save_model(model, settings, [1, 2, 3], {}, path)
    return path


def test_patch_logits_of_three_scales_and_gradients_reach_the_image(reid_model):
    D = load_projected_discriminator(str(reid_model), 64, 32)
    images = torch.rand(2, 3, 64, 32).mul(2).sub(1).requires_grad_(True)
    logits = D(images)
    assert logits.shape == (2, 3 * 4 * 2)  # every scale ends in 4x2 patches
    assert ProjectedDiscriminator(D.trunk, 16, 8)(images[:, :, ::4, ::4]).shape == (2, 4 * 2 + 2 * 1 + 1)  # tiny too
    logits.sum().backward()
    assert images.grad.abs().sum() > 0
    assert all(p.grad is None for p in D.trunk.parameters())
    assert all(p.grad is not None for p in D.heads.parameters())
    # only the layers it reads are kept (and saved in every GAN snapshot): no layer4, pooling or classifier
    assert {key.split(".")[1] for key in D.state_dict() if key.startswith("trunk.")} == {
        "conv1", "bn1", "layer1", "layer2", "layer3"}


def test_trunk_stays_frozen_in_eval_mode_through_a_training_step(reid_model):
    config = GanConfig(cfg="stylegan2", resolution=64, width=32, channel_base=128, channel_max=32, z_dim=16, w_dim=16,
                       batch=2, gamma=0, discriminator="projected", features=str(reid_model))
    G, D = build_networks(config)
    assert isinstance(D, ProjectedDiscriminator)
    trunk_before = {k: v.clone() for k, v in D.trunk.state_dict().items()}
    heads_before = {k: v.clone() for k, v in D.heads.state_dict().items()}
    opt = torch.optim.Adam(D.parameters(), lr=0.01)
    D.train()
    assert not D.trunk.training
    real = torch.rand(2, 3, 64, 32) * 2 - 1
    with torch.no_grad():
        fake = G(torch.randn(2, 16))
    loss = discriminator_loss(D, real, fake, 0.0, 16, False, "color,translation")
    loss.backward()
    opt.step()
    assert all(torch.equal(v, D.trunk.state_dict()[k]) for k, v in trunk_before.items())  # BN statistics included
    assert any(not torch.equal(v, D.heads.state_dict()[k]) for k, v in heads_before.items())
    loss_G = generator_loss(G, D, torch.randn(2, 16), "translation")
    loss_G.backward()
    assert all(p.grad is not None for p in G.synthesis.parameters())


def test_the_projection_is_fixed_by_the_seed_and_not_trained(reid_model):
    a = load_projected_discriminator(str(reid_model), 64, 32, seed=1)
    b = load_projected_discriminator(str(reid_model), 64, 32, seed=1)
    assert torch.equal(a.projection0, b.projection0)
    assert not torch.equal(a.projection0, load_projected_discriminator(str(reid_model), 64, 32, seed=2).projection0)
    assert not any(name.startswith("projection") for name, _ in a.named_parameters())


def test_bf16_trunk_scores_as_the_fp32_trunk_does(reid_model):
    """The bf16 trunk is a speed setting: its logits follow fp32's closely, and gradients still reach the image."""
    D = load_projected_discriminator(str(reid_model), 64, 32, precision="fp32").eval()
    images = torch.rand(8, 3, 64, 32).mul(2).sub(1).requires_grad_(True)
    exact = D(images)
    D.precision = "bf16"
    rounded = D(images)
    assert rounded.dtype == torch.float32 and rounded.shape == exact.shape
    assert not torch.equal(rounded, exact)  # bf16 really ran
    assert torch.corrcoef(torch.stack([exact.flatten(), rounded.flatten()]))[0, 1] > 0.99
    rounded.sum().backward()
    assert images.grad.abs().sum() > 0


def test_auto_precision_is_bf16_only_where_the_cpu_has_it():
    cpu = torch.device("cpu")
    assert trunk_dtype("fp32", cpu) == torch.float32 and trunk_dtype("bf16", cpu) == torch.bfloat16
    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert trunk_dtype("auto", cpu) == (torch.bfloat16 if native else torch.float32)


def test_one_pass_over_real_and_generated_gives_the_two_pass_loss(reid_model):
    """Scoring both sets in one batch (the projected D's samples do not interact) changes speed, not the loss."""
    D = load_projected_discriminator(str(reid_model), 64, 32, precision="fp32").eval()  # eval: no power iteration
    real, fake = torch.rand(2, 4, 3, 64, 32).mul(2).sub(1)
    two_pass = torch.nn.functional.softplus(D(fake)).mean() + torch.nn.functional.softplus(-D(real)).mean()
    one_pass = discriminator_loss(D, real, fake, 0.0, 16, False)
    assert torch.allclose(one_pass, two_pass, atol=1e-6)
    with_r1 = discriminator_loss(D, real, fake, 1.0, 1, True)  # R1 still differentiates D(real) alone
    assert with_r1 > one_pass


def test_bad_settings_say_what_is_wrong(tmp_path):
    with pytest.raises(ReidError, match="gan.discriminator must be one of"):
        GanConfig(discriminator="patch")
    with pytest.raises(ReidError, match="gan.trunk_precision must be one of"):
        GanConfig(trunk_precision="fp16")
    with pytest.raises(ReidError, match="gan.trunk_precision must be one of"):
        trunk_dtype("half", torch.device("cpu"))
    with pytest.raises(ReidError, match="needs gan.features"):
        build_networks(GanConfig(cfg="stylegan2", resolution=64, width=32, discriminator="projected"))
    with pytest.raises(ReidError, match="missing.pt"):
        load_projected_discriminator(str(tmp_path / "missing.pt"), 64, 32)
