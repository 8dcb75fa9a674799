"""FID: closed forms, independent computations, errors, and both feature backbones on tiny weights."""

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import torch
import torchvision

from reid.data.images import IMAGENET_MEAN, IMAGENET_STD
from reid.engine.train import TrainConfig
from reid.errors import ReidError
from reid.metrics.fid import (
    feature_statistics,
    fid_between,
    fid_from_features,
    frechet_distance,
    load_fid_backbone,
)
from reid.models.baseline import ReidNet, save_model

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tests share 2 cores with other jobs; a second intra-op thread then mostly waits at barriers (25x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_orthogonal(dim, rng):
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def random_covariance(dim, rng):
    factor = rng.standard_normal((dim, dim))
    return factor @ factor.T / dim + 0.1 * np.eye(dim)


def uint8_images(seed, count, height, width, low=0, high=256):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (count, 3, height, width), generator=generator, dtype=torch.uint8)


# ---------------------------------------------------------------- closed forms


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    s1, s2 = rng.uniform(0.1, 3.0, 8), rng.uniform(0.1, 3.0, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-8)


def test_commuting_full_covariances_closed_form():
    # S1 = Q diag(a) Q^T and S2 = Q diag(b) Q^T share eigenvectors, so (S1 S2)^{1/2} = Q diag(sqrt(ab)) Q^T.
    rng = np.random.default_rng(1)
    q = random_orthogonal(12, rng)
    a, b = rng.uniform(0.01, 5.0, 12), rng.uniform(0.01, 5.0, 12)
    mu1, mu2 = rng.standard_normal(12), rng.standard_normal(12)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    fid = frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T)
    assert fid == pytest.approx(expected, rel=1e-8)


def test_non_commuting_two_by_two_closed_form():
    # S1 S2 has eigenvalues l1, l2 >= 0, so Tr (S1 S2)^{1/2} = sqrt(l1) + sqrt(l2) = sqrt(Tr(S1 S2) + 2 sqrt(det S1 S2)).
    s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    s2 = np.array([[0.5, -0.2], [-0.2, 3.0]])
    trace_sqrt = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = 1.0**2 + 2.0**2 + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert frechet_distance([0.0, 0.0], s1, [1.0, -2.0], s2) == pytest.approx(expected, rel=1e-8)


def test_one_dimensional_features():
    # In 1-D the distance is (m1 - m2)^2 + (std1 - std2)^2.
    a = np.array([[0.0], [2.0], [4.0]])  # mean 2, variance 4
    b = np.array([[1.0], [2.0]])  # mean 1.5, variance 0.5
    mu, sigma = feature_statistics(a)
    assert mu.shape == (1,) and sigma.shape == (1, 1)
    assert fid_from_features(a, b) == pytest.approx(0.5**2 + (2.0 - np.sqrt(0.5)) ** 2, rel=1e-12)


# ---------------------------------------------------------------- properties


def test_feature_statistics_are_float64_unbiased():
    features = np.random.default_rng(2).standard_normal((50, 6)).astype(np.float32)
    mu, sigma = feature_statistics(features)
    assert mu.dtype == sigma.dtype == np.float64
    centred = features.astype(np.float64) - features.astype(np.float64).mean(0)
    np.testing.assert_allclose(mu, features.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49, rtol=1e-10)


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(3)
    mu, sigma = rng.standard_normal(16), random_covariance(16, rng)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_identical_singular_statistics_give_zero():
    # 10 samples in 64 dimensions: rank-9 covariance, where sqrtm-based FIDs need an eps regulariser.
    features = np.random.default_rng(4).random((10, 64))
    assert abs(fid_from_features(features, features)) < 1e-10


def test_symmetric():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((100, 10)), 2 * rng.standard_normal((80, 10)) + 1
    assert fid_from_features(a, b) == pytest.approx(fid_from_features(b, a), rel=1e-12)


def test_matches_independent_scipy_sqrtm():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((200, 16)) @ rng.standard_normal((16, 16))
    b = rng.standard_normal((200, 16)) @ rng.standard_normal((16, 16)) + 0.5
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root.real)
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-6)


def test_singular_covariances_match_nuclear_norm_of_features():
    # With centred features X (n x D), S = X^T X / (n - 1) and the nonzero eigenvalues of S1 S2 are the
    # squared singular values of X1 X2^T / sqrt((n1 - 1)(n2 - 1)): an exact route that never forms S.
    rng = np.random.default_rng(7)
    a, b = rng.random((12, 40)), rng.random((9, 40)) ** 2
    ca, cb = a - a.mean(0), b - b.mean(0)
    trace_sqrt = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(11 * 8)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum(ca**2) / 11 + np.sum(cb**2) / 8 - 2 * trace_sqrt
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-11)


def test_sample_estimate_approaches_closed_form():
    rng = np.random.default_rng(8)
    q = random_orthogonal(4, rng)
    a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 0.5, 0.5, 1.0])
    mu1, mu2 = np.zeros(4), np.array([1.0, -1.0, 0.0, 0.5])
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    samples1 = rng.multivariate_normal(mu1, s1, 50_000)
    samples2 = rng.multivariate_normal(mu2, s2, 50_000)
    assert fid_from_features(samples1, samples2) == pytest.approx(expected, rel=0.02)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "mu1, sigma1, mu2, sigma2, message",
    [
        (np.zeros(3), np.eye(3), np.zeros(4), np.eye(4), "different dimensions"),
        (np.zeros(3), np.eye(4), np.zeros(3), np.eye(3), "sigma1 has shape"),
        (np.zeros(3), np.eye(3), np.zeros(3), np.ones((3, 2)), "sigma2 has shape"),
        (np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3), "mu1 must be a vector"),
        (np.zeros(2), np.array([[1.0, np.nan], [np.nan, 1.0]]), np.zeros(2), np.eye(2), "NaN or infinity"),
        (np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2), "not symmetric"),
        (np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), "sigma2 is not positive"),
    ],
)
def test_bad_statistics_are_refused(mu1, sigma1, mu2, sigma2, message):
    with pytest.raises(ReidError, match=message):
        frechet_distance(mu1, sigma1, mu2, sigma2)


@pytest.mark.parametrize("rows", [0, 1])
def test_fewer_than_two_samples_are_refused(rows):
    with pytest.raises(ReidError, match="at least 2 feature vectors"):
        feature_statistics(np.zeros((rows, 5)))


def test_features_must_be_two_dimensional():
    with pytest.raises(ReidError, match="2-D array"):
        feature_statistics(np.zeros(5))


# ---------------------------------------------------------------- backbones


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A torchvision inception_v3 state dict with random weights, scaled so activations stay O(1)."""
    torch.manual_seed(0)
    network = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("inception") / "inception_v3.pth"
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def inception(inception_file):
    return load_fid_backbone("inception", inception_file, CPU)


@pytest.fixture(scope="module")
def reid_backbone(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("reid") / "model.pt"
    settings = dataclasses.asdict(TrainConfig(arch="resnet18", height=32, width=16))
    save_model(ReidNet("resnet18", 3), settings, [1, 2, 3], {}, path)
    return load_fid_backbone("reid", path, CPU)


def test_inception_features(inception):
    images = uint8_images(0, 2, 40, 24)
    features = inception.features(images, batch_size=1)
    assert inception.name == "inception-v3-torchvision"
    assert features.shape == (2, 2048) and features.dtype == np.float64
    np.testing.assert_array_equal(features, inception.features(images, batch_size=1))


def test_inception_features_are_pool3_under_torchvision_preprocessing(inception_file, inception):
    # Reference: torchvision's model as it is built for these weights (transform_input=True), fed images
    # resized to 299x299 and normalised by torchvision's own transforms; its fc applied to our features
    # must give its logits.
    reference = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    reference.load_state_dict(torch.load(inception_file, weights_only=True))
    reference.eval()
    images = uint8_images(1, 2, 128, 64)
    features = torch.from_numpy(inception.features(images)).float()
    resized = torchvision.transforms.functional.resize(images.float() / 255, [299, 299], antialias=True)
    with torch.no_grad():
        logits = reference(torchvision.transforms.functional.normalize(resized, IMAGENET_MEAN, IMAGENET_STD))
        np.testing.assert_allclose(reference.fc(features), logits, rtol=1e-4, atol=1e-4)


def test_missing_inception_file(tmp_path):
    with pytest.raises(ReidError, match="0cc3c7bd.pth: Inception-v3 weights file not found"):
        load_fid_backbone("inception", tmp_path / "inception_v3_google-0cc3c7bd.pth", CPU)


def test_garbage_inception_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ReidError, match="garbage.pth"):
        load_fid_backbone("inception", path, CPU)


def test_inception_file_with_other_tensors(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ReidError, match="resnet18.pth: not torchvision inception_v3"):
        load_fid_backbone("inception", path, CPU)


def test_reid_features(reid_backbone):
    images = uint8_images(4, 5, 64, 32)
    features = reid_backbone.features(images, batch_size=2)
    assert reid_backbone.name == "reid-resnet18"
    assert reid_backbone.input_size == (32, 16)
    assert features.shape == (5, 512) and features.dtype == np.float64
    np.testing.assert_array_equal(features, reid_backbone.features(images, batch_size=2))
    # Another batch size may pick other float32 kernels: equal up to rounding.
    np.testing.assert_allclose(features, reid_backbone.features(images), rtol=1e-5, atol=1e-6)


def test_reid_fid_of_a_set_with_itself_and_with_another(reid_backbone):
    images = uint8_images(5, 8, 32, 16)
    assert abs(fid_between(reid_backbone, images, images)) < 1e-6
    dark, bright = uint8_images(6, 8, 32, 16, high=60), uint8_images(7, 8, 32, 16, low=180)
    assert fid_between(reid_backbone, dark, bright) > 1.0


def test_missing_reid_model(tmp_path):
    with pytest.raises(ReidError, match="model.pt: model file not found"):
        load_fid_backbone("reid", tmp_path / "model.pt", CPU)


@pytest.mark.parametrize(
    "kind, path, message",
    [("vgg", "weights.pth", "must be one of"), ("inception", None, "needs a weights file")],
)
def test_bad_backbone_choice(kind, path, message):
    with pytest.raises(ReidError, match=message):
        load_fid_backbone(kind, path, CPU)


@pytest.mark.parametrize(
    "images", [torch.zeros(2, 3, 32, 16), torch.zeros(2, 1, 32, 16, dtype=torch.uint8), np.zeros((2, 3, 32, 16))]
)
def test_backbone_refuses_images_that_are_not_uint8_rgb_batches(reid_backbone, images):
    with pytest.raises(ReidError, match="uint8"):
        reid_backbone.features(images)
