"""Fréchet Inception Distance (Heusel et al. 2017) between two image sets.

Each set's features are summarised by a Gaussian (mean, covariance), and

    FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}).

Only the trace of (S1 S2)^{1/2} is needed.  It is the nuclear norm (sum of
singular values) of S1^{1/2} S2^{1/2}: those singular values are the square
roots of the eigenvalues of S2^{1/2} S1 S2^{1/2}, a matrix similar to S1 S2.
The symmetric roots come from `eigh`, and we use this rather than a general
matrix square root of S1 S2 (`scipy.linalg.sqrtm`, Schur based) because:

- singular covariances (fewer images than feature dimensions, dead features)
  need no `eps * I` regularisation, which would bias the score: eigenvalues
  at rounding level (including slightly negative ones) are set to zero, and
  summing singular values takes no further square root, so the result stays
  accurate to rounding precision (identical singular covariances give 0);
- the arithmetic stays real: there is no spurious imaginary part to drop;
- `eigh` and the SVD are backward stable, and faster than `sqrtm` (about 4x at D = 512 here).

What `sqrtm` would report as a large imaginary part, an input covariance that
is not symmetric positive semi-definite, is refused with a ReidError.

FID is biased upwards at finite sample size and the bias depends on the
backbone and on the number of images (Chong & Forsyth 2020), so only compare
scores computed with the same backbone and the same image counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from reid.data.images import normalize
from reid.errors import ReidError
from reid.io import check_tensor_shapes, load_torch_file
from reid.models.baseline import load_model

__all__ = [
    "FidBackbone",
    "feature_statistics",
    "fid_between",
    "fid_from_features",
    "frechet_distance",
    "load_fid_backbone",
]

#: Asymmetry (relative to the largest entry) and negative eigenvalue (relative
#: to the largest one) still taken for rounding: float64 covariances are off by
#: ~1e-13, float32 ones by ~1e-6, a matrix that is not a covariance by order 1.
_PSD_TOLERANCE = 1e-4
#: Input side of torchvision's Inception-v3.
_INCEPTION_SIZE = (299, 299)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise ReidError(f"FID features must be a 2-D array (samples, dimensions), got shape {features.shape}")
    if len(features) < 2:
        raise ReidError(f"FID needs at least 2 feature vectors to estimate a covariance, got {len(features)}")
    mean = features.mean(axis=0, dtype=np.float64)
    covariance = np.atleast_2d(np.cov(features, rowvar=False))  # np.cov works in float64
    return mean, covariance


def _checked_statistics(mu, sigma, which: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 (mu, sigma) of matching shapes, finite, sigma exactly symmetrised; else a ReidError."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1:
        raise ReidError(f"frechet_distance: mu{which} must be a vector, got shape {mu.shape}")
    if sigma.shape != (len(mu), len(mu)):
        raise ReidError(
            f"frechet_distance: sigma{which} has shape {sigma.shape}, expected {(len(mu), len(mu))} as mu{which} has"
            f" {len(mu)} dimensions"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ReidError(f"frechet_distance: mu{which} or sigma{which} contains NaN or infinity")
    scale = np.abs(sigma).max(initial=0.0)
    if np.abs(sigma - sigma.T).max(initial=0.0) > _PSD_TOLERANCE * scale:
        raise ReidError(f"frechet_distance: sigma{which} is not symmetric, so it is not a covariance matrix")
    return mu, (sigma + sigma.T) / 2


def _covariance_eigenvalues(sigma: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of a covariance; eigenvalues below rounding level become exactly zero.

    `eigh` is accurate to about D * eps * largest eigenvalue (numpy's
    `matrix_rank` tolerance), so smaller eigenvalues cannot be told from zero;
    keeping them would put sqrt(rounding noise) into the square root.  A
    clearly negative eigenvalue means the matrix is not a covariance.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(sigma)
    largest = max(eigenvalues[-1], 0.0)
    if eigenvalues[0] < -_PSD_TOLERANCE * largest:
        raise ReidError(
            f"frechet_distance: {name} is not positive semi-definite "
            f"(eigenvalue {eigenvalues[0]:.3g} against largest {largest:.3g})"
        )
    rounding_level = len(eigenvalues) * np.finfo(np.float64).eps * largest
    return np.where(eigenvalues > rounding_level, eigenvalues, 0.0), eigenvectors


def _psd_root(sigma: np.ndarray, name: str) -> np.ndarray:
    """Symmetric square root of a covariance, from its eigendecomposition."""
    eigenvalues, eigenvectors = _covariance_eigenvalues(sigma, name)
    return (eigenvectors * np.sqrt(eigenvalues)) @ eigenvectors.T


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr (S1 S2)^{1/2} as the nuclear norm of S1^{1/2} S2^{1/2}."""
    return float(np.linalg.norm(_psd_root(sigma1, "sigma1") @ _psd_root(sigma2, "sigma2"), "nuc"))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2), in float64."""
    mu1, sigma1 = _checked_statistics(mu1, sigma1, "1")
    mu2, sigma2 = _checked_statistics(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ReidError(
            f"frechet_distance: the two feature sets have different dimensions ({len(mu1)} vs {len(mu2)})"
        )
    mean_term = float(np.sum((mu1 - mu2) ** 2))
    trace_term = float(np.trace(sigma1) + np.trace(sigma2)) - 2.0 * _trace_sqrt_product(sigma1, sigma2)
    return mean_term + trace_term


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (N_a, D) and (N_b, D)."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


@dataclass(frozen=True)
class FidBackbone:
    """A feature network with its input size; `name` says in metrics files which features a FID used.

    Images are ImageNet mean/std normalised (as both backbones were trained)
    and resized bilinearly, with antialiasing so that downscaling does not
    alias (Parmar et al. 2022), to `input_size` (height, width).
    """

    name: str
    network: nn.Module
    input_size: tuple[int, int]
    device: torch.device

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
        """Features (N, D) in float64 of uint8 images (N, 3, H, W), computed batch by batch."""
        if not isinstance(images, torch.Tensor):
            raise ReidError(f"FID images must be a uint8 torch tensor (N, 3, H, W), got {type(images).__name__}")
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ReidError(f"FID images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if len(images) == 0:
            raise ReidError("FID got an empty image set")
        if batch_size < 1:
            raise ReidError(f"FID batch_size must be >= 1, got {batch_size}")
        chunks = []
        for start in range(0, len(images), batch_size):
            inputs = normalize(images[start : start + batch_size], self.device)
            if tuple(inputs.shape[-2:]) != self.input_size:
                inputs = F.interpolate(
                    inputs, size=self.input_size, mode="bilinear", align_corners=False, antialias=True
                )
            chunks.append(self.network(inputs).double().cpu())
        return torch.cat(chunks).numpy()


def fid_between(backbone: FidBackbone, images_a: torch.Tensor, images_b: torch.Tensor, batch_size: int = 64) -> float:
    """FID between two uint8 image sets (N, 3, H, W) in `backbone`'s feature space."""
    return fid_from_features(backbone.features(images_a, batch_size), backbone.features(images_b, batch_size))


def _load_inception(path: Path, device: torch.device) -> FidBackbone:
    """torchvision's Inception-v3 from its ImageNet state dict; features = 2048-d pool3 (before dropout and fc).

    This is torchvision's port (TensorFlow's inception-v3-2016-03-01 weights),
    not the inception-2015-12-05 graph of the reference FID implementation,
    which has other weights, 1008 classes and a few different pooling layers.
    Absolute values are therefore close to but not identical with the FID
    that papers report; compare them only with each other.

    Built with `transform_input=True`, as torchvision builds it for these
    weights: the network maps ImageNet-normalised input back to the [-1, 1]
    scaling the TensorFlow weights were trained with.
    """
    if not path.is_file():
        raise ReidError(
            f"{path}: Inception-v3 weights file not found (torchvision's inception_v3_google-0cc3c7bd.pth)"
        )
    state = load_torch_file(path, "torch state dict")
    network = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReidError(f"{path}: expected a state dict of tensors (torchvision inception_v3 ImageNet weights)")
    # BatchNorm's step counter does not change eval output and older torchvision files lack it.
    wanted = {k: v.shape for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}
    given = {k: v.shape for k, v in state.items() if not k.endswith("num_batches_tracked")}
    check_tensor_shapes(path, wanted, given, "torchvision inception_v3 ImageNet weights")
    network.load_state_dict(state, strict=False)
    network.fc = nn.Identity()
    return FidBackbone("inception-v3-torchvision", network.to(device).eval(), _INCEPTION_SIZE, device)


def _load_reid(path: Path, device: torch.device) -> FidBackbone:
    """The project's re-ID model; features = its pooled trunk output (before the bottleneck)."""
    model, config = load_model(path, device)
    return FidBackbone(f"reid-{config['arch']}", model.backbone, (config["height"], config["width"]), device)


def load_fid_backbone(kind: str, path: str | Path | None, device: torch.device) -> FidBackbone:
    """`inception`: torchvision Inception-v3 ImageNet state dict at `path`; `reid`: a model saved by `reid train`."""
    loaders = {"inception": _load_inception, "reid": _load_reid}
    if kind not in loaders:
        raise ReidError(f"FID backbone must be one of {sorted(loaders)}, got {kind!r}")
    if not path:
        raise ReidError(f"the {kind!r} FID backbone needs a weights file, none was given")
    return loaders[kind](Path(path), device)
