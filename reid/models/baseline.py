"""The re-ID baseline of the thesis (layumi/Person_reID_baseline_pytorch recipe).

ResNet -> global average pool -> ClassBlock (Linear to a 512-d bottleneck,
BatchNorm1d, Dropout, Linear to the identities), trained with cross-entropy.
At test time the classifier is dropped and the bottleneck is the feature.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from reid.errors import ReidError
from reid.io import check_tensor_shapes, load_torch_file, save_torch_file

#: Backbone constructors and the width of their pooled output.
ARCHS = {
    "resnet18": (torchvision.models.resnet18, 512),
    "resnet34": (torchvision.models.resnet34, 512),
    "resnet50": (torchvision.models.resnet50, 2048),
}


def _init_bottleneck(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.kaiming_normal_(module.weight, a=0, mode="fan_out")
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ClassBlock(nn.Module):
    """Linear -> BN -> Dropout bottleneck, then the identity classifier."""

    def __init__(self, in_features: int, num_classes: int, bottleneck: int = 512, dropout: float = 0.5):
        super().__init__()
        self.bottleneck = nn.Sequential(
            nn.Linear(in_features, bottleneck), nn.BatchNorm1d(bottleneck), nn.Dropout(dropout)
        )
        self.bottleneck.apply(_init_bottleneck)
        self.classifier = nn.Linear(bottleneck, num_classes)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.bottleneck(pooled)
        return self.classifier(feature), feature


class ReidNet(nn.Module):
    """ResNet trunk + ClassBlock; `forward` gives logits, `features` the bottleneck."""

    def __init__(self, arch: str, num_classes: int, bottleneck: int = 512, dropout: float = 0.5):
        super().__init__()
        if arch not in ARCHS:
            raise ReidError(f"reid.arch must be one of {sorted(ARCHS)}, got {arch!r}")
        constructor, width = ARCHS[arch]
        trunk = constructor(weights=None)
        trunk.fc = nn.Identity()
        self.arch = arch
        self.backbone = trunk
        self.head = ClassBlock(width, num_classes, bottleneck, dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))[0]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))[1]

    def param_groups(self, lr_backbone: float, lr_classifier: float) -> list[dict]:
        """The recipe trains the pretrained trunk ten times slower than the new head."""
        return [
            {"params": list(self.backbone.parameters()), "lr": lr_backbone},
            {"params": list(self.head.parameters()), "lr": lr_classifier},
        ]


#: `reid.pretrained` value naming the pretrain stage's model (weights pretrained on the embedded synthetic set).
SYNTHETIC_INIT = "synthetic"
#: What metrics call a network that starts from random weights.
RANDOM_INIT = "random"
_CLASSIFIER = "head.classifier."


def init_label(pretrained: str) -> str:
    """How a `reid.pretrained` / `pretrain.init` value is named in the metrics: random, synthetic or the file."""
    return pretrained or RANDOM_INIT


def pretrained_file(pretrained: str, synthetic_model: Path | None) -> Path | None:
    """The weights file a `pretrained` value names (None: random init); `synthetic` is the pretrain stage's model."""
    if not pretrained:
        return None
    if pretrained != SYNTHETIC_INIT:
        return Path(pretrained)
    if synthetic_model is None:
        raise ReidError(f"pretrained {SYNTHETIC_INIT!r} has no model here (the pretrain stage cannot start from "
                        f"its own output)")
    if not synthetic_model.is_file():
        raise ReidError(f"{synthetic_model}: no synthetically pretrained model; the pretrain stage trains it "
                        f"when reid.pretrained is {SYNTHETIC_INIT!r}")
    return synthetic_model


def _is_reid_model(state) -> bool:
    return isinstance(state, dict) and {"state_dict", "config", "classes"} <= set(state)


def _load_reid_weights(model: ReidNet, path: Path, payload: dict) -> dict:
    """Backbone and bottleneck of a model this project saved; its classifier (other identities) is dropped."""
    arch = payload["config"].get("arch") if isinstance(payload["config"], dict) else None
    if arch != model.arch:
        raise ReidError(f"{path}: weights of a {arch} re-ID model, not {model.arch}")
    state = {k: v for k, v in payload["state_dict"].items() if not k.startswith(_CLASSIFIER)}
    own = {k: v.shape for k, v in model.state_dict().items() if not k.startswith(_CLASSIFIER)}
    check_tensor_shapes(path, own, {k: v.shape for k, v in state.items()}, f"{model.arch} re-ID weights")
    model.load_state_dict(state, strict=False)
    return {"init_format": "reid-model", "tensors_loaded": len(state),
            "weights_init": init_label(payload["config"].get("pretrained", ""))}


def _load_imagenet_weights(model: ReidNet, path: Path, state) -> dict:
    """A torchvision ImageNet state dict (an external artifact) into the trunk; its classifier `fc.*` is dropped."""
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ReidError(f"{path}: expected a state dict of tensors")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = model.backbone.state_dict()
    check_tensor_shapes(path, {k: v.shape for k, v in own.items()}, {k: v.shape for k, v in state.items()},
                        f"{model.arch} ImageNet weights")
    model.backbone.load_state_dict(state)
    return {"init_format": "imagenet", "tensors_loaded": len(state)}


def load_pretrained(model: ReidNet, pretrained: str, synthetic_model: Path | None = None) -> dict:
    """Start `model` from what `pretrained` names: nothing (""), `synthetic`, a re-ID model file or ImageNet weights.

    Every tensor but the classifier must match by name and shape, otherwise the
    file is for another architecture and is refused with one line.
    """
    path = pretrained_file(pretrained, synthetic_model)
    if path is None:
        return {}
    if not path.is_file():
        raise ReidError(f"{path}: pretrained weights file not found")
    state = load_torch_file(path, "torch state dict")
    if _is_reid_model(state):
        return {"init_file": str(path), **_load_reid_weights(model, path, state)}
    return {"init_file": str(path), **_load_imagenet_weights(model, path, state)}


def save_model(model: ReidNet, settings: dict, classes: list[int], info: dict, path: str | Path) -> None:
    """Weights plus what evaluation needs to rebuild the network (the `reid:` params), loadable with weights_only=True.

    Saved with `save_torch_file`: the same model always gets the same bytes.
    """
    payload = {
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "config": settings,
        "classes": classes,
        "info": info,
    }
    save_torch_file(payload, path)


def load_model(path: str | Path, device: torch.device) -> tuple[ReidNet, dict]:
    """Rebuild a model saved by `save_model`; returns (model in eval mode, its saved config)."""
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: model file not found; run the train_reid stage (reid train) first")
    payload = load_torch_file(path, "re-ID model")
    try:
        config = payload["config"]
        model = ReidNet(config["arch"], len(payload["classes"]), config["bottleneck"], config["dropout"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise ReidError(f"{path}: not a re-ID model saved by this project ({type(exc).__name__})") from None
    return model.to(device).eval(), config
