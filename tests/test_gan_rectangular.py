"""2:1 person-shaped networks for every cfg, and the StyleGAN2 config's layers and NVIDIA tensor names."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reid.gan.discriminator import Discriminator
from reid.gan.generator import Generator
from reid.gan.sampling import generate_images, resize, to_gan_size, to_person
from reid.gan.training import GanConfig, build_networks, transfer

SMALL = dict(z_dim=32, w_dim=32, channel_base=1024, channel_max=32)


@pytest.mark.parametrize("cfg", ["T", "R", "stylegan2"])
@pytest.mark.parametrize("height,width", [(32, 16), (32, 32), (64, 32)])
def test_generator_and_discriminator_shapes(cfg, height, width):
    torch.manual_seed(0)
    G = Generator(img_resolution=height, cfg=cfg, img_width=width, **SMALL)
    D = Discriminator(height, channel_base=1024, channel_max=32, img_width=width)
    assert G.num_ws == 16
    images = G(torch.randn(3, 32))
    assert images.shape == (3, 3, height, width) and torch.isfinite(images).all()
    logits = D(images)
    assert logits.shape == (3,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.synthesis.parameters() if p.requires_grad)
    people = generate_images(G, torch.randn(2, 32), torch.device("cpu"))
    assert people.shape == (2, 3, 128, 64) and people.dtype == torch.uint8


def test_config_width_gamma_rule_and_area_resize():
    config = GanConfig(**{**SMALL, "cfg": "stylegan2", "resolution": 64, "width": 32, "batch": 32, "gamma": -1})
    assert config.img_width == 32 and config.r1_gamma == pytest.approx(0.0002 * 64 * 32 / 32)
    assert GanConfig(resolution=32).img_width == 32 and GanConfig(gamma=0.5).r1_gamma == 0.5
    G, D = build_networks(config)
    assert G(torch.randn(2, 32)).shape == (2, 3, 64, 32) and D.img_width == 32
    crops = torch.randint(0, 256, (2, 3, 128, 64), dtype=torch.uint8)
    small = to_gan_size(crops, 64, 32)
    expected = crops.float().div(127.5).sub(1).unfold(2, 2, 2).unfold(3, 2, 2).mean([-1, -2])
    torch.testing.assert_close(small, expected)  # an area average, not a stretch
    assert to_gan_size(crops, 128, 128).shape == (2, 3, 128, 128)


def test_enlarging_keeps_thin_lines_brighter_than_bilinear_and_round_trips_smooth_crops():
    line = torch.full((1, 3, 64, 32), -1.0)
    line[..., 16] = 1.0  # a one-pixel bright stripe on dark, as a thin limb at 64x32
    enlarged = resize(line, 128, 64)[0, 0, 0]
    bilinear = F.interpolate(line, size=(128, 64), mode="bilinear", align_corners=False, antialias=True)[0, 0, 0]
    assert enlarged.max() > bilinear.max() + 0.2  # bicubic 0.76, bilinear 0.5: the stripe keeps its contrast
    person = to_person(line)
    assert person.dtype == torch.uint8 and person[0, 0, 0].min() == 0  # the undershoot beside it is clamped
    rows = torch.linspace(0, 255, 128).view(1, 1, 128, 1)
    smooth = (rows * torch.ones(1, 3, 1, 64)).round().to(torch.uint8)  # a vertical gradient
    assert (to_person(to_gan_size(smooth, 64, 32)).int() - smooth.int()).abs().max() <= 2
    assert resize(line, 32, 64).shape == (1, 3, 32, 64)  # shrink one side, enlarge the other


def nvidia_stylegan2_names(resolution: int, channels: dict, w_dim: int, mapping_layers: int, z_dim: int) -> dict:
    """State-dict names and shapes of NVIDIA's networks_stylegan2.Generator (skip architecture, no labels)."""
    names = {"mapping.w_avg": (w_dim,)}
    dims = [z_dim] + [w_dim] * mapping_layers
    for i in range(mapping_layers):
        names[f"mapping.fc{i}.weight"] = (dims[i + 1], dims[i])
        names[f"mapping.fc{i}.bias"] = (dims[i + 1],)

    def layer(prefix, cin, cout, res):
        names.update({f"{prefix}.weight": (cout, cin, 3, 3), f"{prefix}.bias": (cout,),
                      f"{prefix}.noise_strength": (), f"{prefix}.noise_const": (res, res),
                      f"{prefix}.resample_filter": (4, 4), f"{prefix}.affine.weight": (cin, w_dim),
                      f"{prefix}.affine.bias": (cin,)})

    res, cin = 4, 0
    while res <= resolution:
        block, cout = f"synthesis.b{res}", channels[res]
        names[f"{block}.resample_filter"] = (4, 4)
        if res == 4:
            names[f"{block}.const"] = (cout, 4, 4)
        else:
            layer(f"{block}.conv0", cin, cout, res)
        layer(f"{block}.conv1", cout, cout, res)
        names.update({f"{block}.torgb.weight": (3, cout, 1, 1), f"{block}.torgb.bias": (3,),
                      f"{block}.torgb.affine.weight": (cout, w_dim), f"{block}.torgb.affine.bias": (cout,)})
        res, cin = res * 2, cout
    return names


def test_stylegan2_tensor_names_follow_nvidia_and_pretrained_tensors_transfer():
    torch.manual_seed(0)
    G = Generator(img_resolution=16, cfg="stylegan2", **SMALL)
    official = nvidia_stylegan2_names(16, {4: 32, 8: 32, 16: 32}, 32, 2, 32)
    own = {name: tuple(t.shape) for name, t in G.state_dict().items()}
    assert set(own) <= set(official)
    assert {n for n in official if not n.endswith("resample_filter")} <= set(own)
    assert all(official[name] == shape for name, shape in own.items())
    pickle_tensors = {name: torch.randn(shape) for name, shape in official.items()}
    report = transfer(G, pickle_tensors)
    assert report["reinitialised"] == 0 and report["transferred"] == len(own)
    assert torch.equal(G.synthesis.b8.conv0.weight, pickle_tensors["synthesis.b8.conv0.weight"])
    # a 2:1 generator takes everything but the square constant and noise maps
    person = Generator(img_resolution=16, cfg="stylegan2", img_width=8, **SMALL)
    report = transfer(person, pickle_tensors)
    assert "synthesis.b4.const" in report["shape_mismatch"] and report["transferred"] > len(own) // 2


def test_stylegan2_spreads_its_styles_over_16_ws_and_is_deterministic_in_eval():
    torch.manual_seed(0)
    G = Generator(img_resolution=32, cfg="stylegan2", img_width=16, **SMALL)
    assert G.synthesis.w_index.tolist() == [0, 2, 4, 6, 9, 11, 13, 15]  # b4: 0-1, b8: 1-3, ... torgb shares
    ws = G.mapping(torch.randn(2, 32))
    G.eval()
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws), G.synthesis(ws))
        fine = ws.clone()
        fine[:, 15] = torch.randn(32)
        assert not torch.equal(G.synthesis(fine), G.synthesis(ws))
        unused = ws.clone()
        unused[:, 1] = torch.randn(32)
        assert torch.equal(G.synthesis(unused), G.synthesis(ws))
    G.train()
    for name, module in G.synthesis.named_modules():
        if name.endswith("conv1"):
            module.noise_strength.data.fill_(1.0)
    with torch.no_grad():
        assert not torch.equal(G.synthesis(ws), G.synthesis(ws))  # fresh noise while training


def test_stylegan2_without_noise_has_no_noise_tensors_and_trains_deterministically():
    torch.manual_seed(0)
    G = Generator(img_resolution=32, cfg="stylegan2", img_width=16, noise=False, **SMALL)
    assert not [name for name in G.state_dict() if "noise" in name]
    assert [name for name in Generator(img_resolution=32, cfg="stylegan2", img_width=16, **SMALL).state_dict()
            if "noise_strength" in name]
    ws = G.mapping(torch.randn(2, 32))
    G.train()
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws), G.synthesis(ws))  # no fresh noise to draw
    config = GanConfig(cfg="stylegan2", resolution=32, width=16, channel_base=256, channel_max=32, z_dim=32, w_dim=32,
                       noise=False)
    G_built, _ = build_networks(config)
    assert not [name for name in G_built.state_dict() if "noise" in name]
