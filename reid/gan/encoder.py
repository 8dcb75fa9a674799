"""An encoder from person images into the frozen generator's W+ space (pSp and ReStyle, written from the papers).

- pSp (Richardson et al. 2021, "Encoding in Style"): a feature-pyramid CNN
  whose three pyramid levels feed one *map-to-style* head per w: the coarse
  ws read the smallest map, the middle ones the medium map, the fine ones the
  largest. Each head predicts the w's offset from the generator's `w_avg`.
- ReStyle (Alaluf et al. 2021): the encoder sees the input next to the
  current reconstruction (6 channels) and predicts a residual; starting from
  `w_avg` and its image, `iterations` such steps refine the W+ code. With one
  iteration this is pSp with offsets from `w_avg`.

Losses (`reconstruction_losses`): L2 on pixels; a perceptual distance; an
identity loss; a w-norm regulariser. The face (ArcFace) and MoCo identity
networks of pSp/ReStyle do not fit bodies, so identity is the cosine
distance between the project's real-only re-ID model's embeddings of the
input and of its reconstruction. LPIPS needs AlexNet/VGG weights that this
machine cannot download; the perceptual term is therefore an LPIPS-style
distance (channel-normalised feature differences, averaged over space, summed
over layers, no learnt layer weights) on the same re-ID trunk's layers 1-3,
named as such wherever it is reported (`ReidFeatures.perceptual_name`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from reid.data.images import IMAGENET_MEAN, IMAGENET_STD
from reid.errors import ReidError
from reid.gan.generator import Generator
from reid.gan.sampling import load_generator
from reid.io import load_torch_file, save_torch_file
from reid.provenance import file_digest

LOSS_TERMS = ("l2", "perceptual", "identity", "w_norm")


def style_levels(num_ws: int) -> list[int]:
    """Pyramid level (0 smallest map ... 2 largest) that feeds each w.

    The project's layer groups at 16 ws (coarse 0-5, middle 6-11, fine 12-15)
    are 3/8 and 3/4 of the ws; the same fractions split any other count.
    """
    coarse_end, middle_end = (num_ws * 3) // 8, (num_ws * 3) // 4
    return [0 if i < coarse_end else 1 if i < middle_end else 2 for i in range(num_ws)]


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.LeakyReLU(0.2))


class MapToStyle(nn.Module):
    """One w from one pyramid map: strided conv, global average (any aspect), linear to w_dim.

    The last layer starts near zero, so an untrained encoder returns `w_avg`'s image.
    """

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.conv = _conv(channels, channels, stride=2)
        self.linear = nn.Linear(channels, w_dim)
        nn.init.normal_(self.linear.weight, std=0.01 / channels**0.5)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(features).mean((2, 3)))


class Encoder(nn.Module):
    """(image, current reconstruction) in [-1, 1] at the generator's size -> W+ offsets (N, num_ws, w_dim)."""

    def __init__(self, num_ws: int, w_dim: int, channels: int = 32, fpn_channels: int = 64):
        super().__init__()
        self.num_ws, self.w_dim = num_ws, w_dim
        widths = [channels, channels * 2, channels * 4]
        self.stem = _conv(6, channels)
        self.stages = nn.ModuleList(
            nn.Sequential(_conv(c_in, c_out, stride=2), _conv(c_out, c_out))
            for c_in, c_out in zip([channels, *widths[:-1]], widths))
        self.laterals = nn.ModuleList(nn.Conv2d(c, fpn_channels, 1) for c in widths)
        self.levels = style_levels(num_ws)
        self.heads = nn.ModuleList(MapToStyle(fpn_channels, w_dim) for _ in range(num_ws))

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature pyramid, smallest map first: top-down sums of upsampled coarser maps and lateral 1x1 convs."""
        x = self.stem(x)
        bottom_up = []
        for stage in self.stages:
            x = stage(x)
            bottom_up.append(x)
        maps = [self.laterals[-1](bottom_up[-1])]
        for lateral, features in zip(reversed(self.laterals[:-1]), reversed(bottom_up[:-1])):
            upsampled = F.interpolate(maps[-1], size=features.shape[2:], mode="bilinear", align_corners=False)
            maps.append(lateral(features) + upsampled)
        return maps

    def forward(self, image: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        maps = self.pyramid(torch.cat([image, reconstruction], 1))
        return torch.stack([head(maps[level]) for head, level in zip(self.heads, self.levels)], 1)


def freeze(module: nn.Module) -> nn.Module:
    """Eval mode and no gradients for the module's own weights (gradients still flow through it)."""
    module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def check_size(images: torch.Tensor, G: Generator) -> None:
    if tuple(images.shape[1:]) != (3, G.img_resolution, G.img_width):
        raise ReidError(f"encoder input must be (N, 3, {G.img_resolution}, {G.img_width}) for this generator, "
                        f"got {tuple(images.shape)}")


def invert_steps(encoder: Encoder, G: Generator, images: torch.Tensor, iterations: int) -> list[tuple]:
    """ReStyle's loop: from w_avg, `iterations` times W+ += encoder(image, reconstruction); (ws, image) per step.

    Between steps the code and image are detached, as in ReStyle's training:
    each step learns to improve on what it is shown.
    """
    check_size(images, G)
    ws = G.mapping.w_avg.view(1, 1, -1).expand(len(images), G.num_ws, -1)
    with torch.no_grad():  # every sample starts from w_avg's image
        reconstruction = G.synthesis(ws[:1]).expand(len(images), -1, -1, -1)
    steps = []
    for _ in range(iterations):
        ws = ws.detach() + encoder(images, reconstruction.detach())
        reconstruction = G.synthesis(ws)
        steps.append((ws, reconstruction))
    return steps


@torch.no_grad()
def invert(encoder: Encoder, G: Generator, images: torch.Tensor, iterations: int, batch: int = 64) -> torch.Tensor:
    """W+ codes (N, num_ws, w_dim) of images in [-1, 1] at the generator's size, batch by batch."""
    encoder.eval()
    device = next(encoder.parameters()).device
    return torch.cat([invert_steps(encoder, G, images[i : i + batch].to(device), iterations)[-1][0]
                      for i in range(0, len(images), batch)])


class ReidFeatures(nn.Module):
    """The frozen re-ID network seen as a loss: trunk layers 1-3 (perceptual) and the bottleneck (identity).

    Images in [-1, 1] of any size are resized to the network's input size and
    ImageNet-normalised, as the re-ID model was trained.
    """

    def __init__(self, model: nn.Module, height: int, width: int):
        super().__init__()
        self.model = freeze(model)
        self.size = (height, width)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.name = f"reid-{getattr(model, 'arch', 'net')}"
        self.perceptual_name = f"{self.name} layers 1-3, LPIPS-style without learnt weights (not LPIPS)"

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = F.interpolate(images, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        x = ((x + 1) / 2 - self.mean) / self.std
        trunk = self.model.backbone
        x = trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))
        layers = []
        for name in ("layer1", "layer2", "layer3"):
            x = getattr(trunk, name)(x)
            layers.append(x)
        pooled = trunk.avgpool(trunk.layer4(x)).flatten(1)
        return layers, self.model.head.bottleneck(pooled)


def perceptual_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """LPIPS's form without its learnt weights: per layer, channel-unit features, squared difference, spatial mean."""
    return sum((F.normalize(x, dim=1) - F.normalize(y, dim=1)).square().sum(1).mean((1, 2)) for x, y in zip(a, b))


def identity_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of re-ID embeddings, per sample (0 when the network sees the same person)."""
    return 1 - F.cosine_similarity(a, b, dim=1)


def w_norm(ws: torch.Tensor, w_avg: torch.Tensor) -> torch.Tensor:
    """Root-mean-square offset of the W+ code from w_avg, per sample: keeps codes near the generator's domain."""
    return (ws - w_avg).square().mean((1, 2)).sqrt()


@dataclass(frozen=True)
class LossWeights:
    l2: float = 1.0
    perceptual: float = 0.8
    identity: float = 0.5
    w_norm: float = 0.005


def reconstruction_losses(target: torch.Tensor, reconstruction: torch.Tensor, ws: torch.Tensor, w_avg: torch.Tensor,
                          features: ReidFeatures, target_features: tuple | None = None) -> dict[str, torch.Tensor]:
    """Every loss term per sample (N,): the same numbers train the encoder and measure it.

    `target_features` (= `features(target)`, computed once per batch without gradients) saves a re-ID
    pass per ReStyle step: that network costs more than the encoder and the generator together.
    """
    target_layers, target_id = features(target) if target_features is None else target_features
    layers, identity = features(reconstruction)
    return {
        "l2": (reconstruction - target).square().mean((1, 2, 3)),
        "perceptual": perceptual_distance(layers, target_layers),
        "identity": identity_distance(identity, target_id),
        "w_norm": w_norm(ws, w_avg),
    }


def weighted_total(terms: dict[str, torch.Tensor], weights: LossWeights) -> torch.Tensor:
    return sum(getattr(weights, name) * terms[name].mean() for name in LOSS_TERMS)


def save_encoder(encoder: Encoder, config: dict, generator_digest: str, path: str | Path) -> None:
    """Weights, the `encoder:` params and the digest of the generator file it was trained against (weights_only)."""
    payload = {"state_dict": {k: v.cpu() for k, v in encoder.state_dict().items()}, "config": config,
               "generator_digest": generator_digest}
    save_torch_file(payload, path)


def load_encoder(path: str | Path, G: Generator, generator_digest: str, device: torch.device) -> tuple[Encoder, dict]:
    """The encoder saved by `save_encoder` for generator `G`, in eval mode, with its params; refuses another generator's."""
    if not Path(path).is_file():
        raise ReidError(f"{path}: encoder not found; train it first (dvc repro train_encoder or reid train-encoder)")
    payload = load_torch_file(path, "encoder")
    try:
        config = payload["config"]
        encoder = Encoder(G.num_ws, G.w_dim, config["channels"], config["fpn_channels"])
        encoder.load_state_dict(payload["state_dict"])
        trained_for = payload["generator_digest"]
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ReidError(f"{path}: not an encoder of this project for this generator ({type(exc).__name__})") from None
    if trained_for != generator_digest:
        raise ReidError(f"{path}: trained against another GAN snapshot; retrain the encoder (dvc repro train_encoder)")
    return encoder.to(device).eval(), config


def load_inverter(snapshot: str | Path, encoder_path: str | Path, device: torch.device
                  ) -> tuple[Generator, Encoder, dict]:
    """The frozen generator of `snapshot` and the encoder trained against it (invert stage and `reid generate --input`)."""
    G, _ = load_generator(snapshot, device)
    freeze(G)
    encoder, config = load_encoder(encoder_path, G, file_digest(snapshot), device)
    return G, encoder, config
