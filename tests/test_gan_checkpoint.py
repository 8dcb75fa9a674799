"""Pretrained weights: NVIDIA-layout pickles are read without running code, payloads are refused."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

from reid.errors import ReidError
from reid.gan.checkpoint import load_pretrained

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _reconstruct_persistent_obj(meta):
    raise AssertionError("stands in for NVIDIA's function at pickling time only; never called")


class EasyDict(dict):
    """Pickles under NVIDIA's name dnnlib.util.EasyDict."""


class Persistent(torch.nn.Module):
    """Pickles as NVIDIA's torch_utils.persistence does: a call carrying module source and __dict__."""

    module_src = ""

    def __reduce__(self):
        meta = dict(type="class", version=4, module_src=self.module_src, class_name=type(self).__name__,
                    state=self.__dict__)
        return (_reconstruct_persistent_obj, (meta,))


class FullyConnectedLayer(Persistent):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out_features, in_features))
        self.bias = torch.nn.Parameter(torch.randn(out_features)) if bias else None
        self.weight_gain = np.float64(1 / np.sqrt(in_features))


class MappingNetwork(Persistent):
    def __init__(self, w_dim):
        super().__init__()
        self.num_ws = 4
        self.fc0 = FullyConnectedLayer(w_dim, w_dim)
        self.fc1 = FullyConnectedLayer(w_dim, w_dim, bias=False)
        self.register_buffer("w_avg", torch.randn(w_dim))


class SynthesisLayer(Persistent):
    def __init__(self, w_dim, channels, size):
        super().__init__()
        self.affine = FullyConnectedLayer(w_dim, channels)
        self.weight = torch.nn.Parameter(torch.randn(channels, channels, 3, 3))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", None)
        self.register_buffer("scratch", torch.zeros(3), persistent=False)
        self.in_size = np.broadcast_to(np.asarray(size), [2])  # strided: pickles via _reconstruct
        self.out_size = np.array([size, size])  # contiguous: pickles via _frombuffer under protocol 5
        self.sampling_rate = np.float32(size)
        self.is_torgb = np.bool_(False)
        self.layer_kwargs = EasyDict(conv_clamp=256, names=["a", "b"])


class SynthesisInput(Persistent):
    def __init__(self, w_dim, channels):
        super().__init__()
        self.affine = FullyConnectedLayer(w_dim, 4)
        self.weight = torch.nn.Parameter(torch.randn(channels, channels))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", torch.randn(channels, 2))
        self.register_buffer("phases", torch.rand(channels))


class SynthesisNetwork(Persistent):
    def __init__(self, w_dim, channels):
        super().__init__()
        self.input = SynthesisInput(w_dim, channels)
        self.L0_36_512 = SynthesisLayer(w_dim, channels, 36)
        self.extra = torch.nn.ModuleList([SynthesisLayer(w_dim, channels, 20),
                                          torch.nn.Sequential(torch.nn.Identity())])


class Generator(Persistent):
    def __init__(self, w_dim=4, channels=3):
        super().__init__()
        self.w_dim = w_dim
        self.init_kwargs = EasyDict(mapping_kwargs=EasyDict(num_layers=2))
        self.mapping = MappingNetwork(w_dim)
        self.synthesis = SynthesisNetwork(w_dim, channels)


class Payload:
    """An object whose unpickling calls `function(*args)`."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


@contextlib.contextmanager
def nvidia_names(marker):
    """Within, NVIDIA's module names resolve to this file's stand-ins; nothing of NVIDIA is imported."""
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    with pytest.MonkeyPatch.context() as patch:
        for module in [types.ModuleType("torch_utils"), persistence, types.ModuleType("dnnlib"), util]:
            patch.setitem(sys.modules, module.__name__, module)
        patch.setattr(_reconstruct_persistent_obj, "__module__", "torch_utils.persistence")
        patch.setattr(EasyDict, "__module__", "dnnlib.util")
        patch.setattr(Persistent, "module_src", f"open({str(marker)!r}, 'w').write('module source ran')\n")
        yield patch
    assert "torch_utils.persistence" not in sys.modules and "dnnlib.util" not in sys.modules


def write_pickle(path, contents, protocol, marker):
    with nvidia_names(marker), open(path, "wb") as file:
        pickle.dump(contents, file, protocol=protocol)
    return path


def assert_same_tensors(loaded, expected):
    assert list(loaded) == list(expected)
    for name, tensor in expected.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_nvidia_pickle_yields_g_ema_state_dict_without_running_module_source(tmp_path, protocol):
    torch.manual_seed(0)
    generator, generator_ema = Generator(), Generator()
    marker = tmp_path / "marker"
    contents = {"G": generator, "D": FullyConnectedLayer(2, 1), "G_ema": generator_ema, "augment_pipe": None,
                "training_set_kwargs": EasyDict(resolution=64), "augment_kwargs": None}
    path = write_pickle(tmp_path / "network.pkl", contents, protocol, marker)

    loaded = load_pretrained(path)

    expected = generator_ema.state_dict()
    assert_same_tensors(loaded, expected)
    assert "synthesis.L0_36_512.weight" in loaded and "synthesis.extra.0.affine.bias" in loaded
    assert torch.equal(loaded["mapping.w_avg"], generator_ema.mapping.w_avg)
    assert "synthesis.L0_36_512.up_filter" not in loaded and "mapping.fc1.bias" not in loaded
    assert "synthesis.L0_36_512.scratch" not in loaded  # non-persistent, as in state_dict()
    assert all(type(tensor) is torch.Tensor and not tensor.requires_grad for tensor in loaded.values())
    assert not marker.exists()


def test_nvidia_pickle_without_g_ema_yields_g(tmp_path):
    generator = Generator()
    path = write_pickle(tmp_path / "network.pkl", {"G": generator, "D": None}, 4, tmp_path / "marker")
    assert_same_tensors(load_pretrained(path), generator.state_dict())


def test_nvidia_pickle_with_numpy_1_names_and_cuda_storages_loads_on_cpu(tmp_path, monkeypatch):
    """NVIDIA's files come from numpy 1 (numpy.core.*) and a GPU machine (storages tagged cuda:0)."""
    generator = Generator()
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    with nvidia_names(tmp_path / "marker"):
        data = pickle.dumps({"G_ema": generator}, protocol=2)  # protocol 2 spells globals as plain text
    monkeypatch.undo()
    assert b"cuda:0" in data and b"numpy._core.multiarray\n" in data
    path = tmp_path / "network.pkl"
    path.write_bytes(data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    assert_same_tensors(load_pretrained(path), generator.state_dict())


def test_pickle_without_generator_is_refused(tmp_path):
    path = write_pickle(tmp_path / "network.pkl", {"D": FullyConnectedLayer(2, 1)}, 4, tmp_path / "m")
    with pytest.raises(ReidError, match="no 'G_ema' or 'G' network"):
        load_pretrained(path)


PAYLOADS = {
    "os.system": lambda marker: Payload(os.system, f"touch {marker}"),
    "builtins.eval": lambda marker: Payload(eval, f"open({str(marker)!r}, 'w')"),
    "builtins.exec": lambda marker: Payload(exec, f"open({str(marker)!r}, 'w')"),
    "subprocess.Popen": lambda marker: Payload(subprocess.Popen, ["touch", str(marker)]),
    "builtins.getattr": lambda marker: Payload(getattr, "text", "upper"),
}
REFERENCE_NAMES = {"os.system": os.system.__module__ + ".system"}  # posix.system on Linux


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_at_top_level_is_refused_before_running(tmp_path, protocol, payload):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": PAYLOADS[payload](marker)}, protocol=protocol))

    refusal = f"{path}: refused to load pickle: it references {REFERENCE_NAMES.get(payload, payload)}, which is not"
    with pytest.raises(ReidError, match=re.escape(refusal)):
        load_pretrained(path)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["buffer", "attribute", "discriminator"])
def test_payload_nested_in_network_state_is_refused(tmp_path, where):
    marker = tmp_path / "marker"
    generator = Generator()
    payload = Payload(eval, f"open({str(marker)!r}, 'w')")
    if where == "buffer":
        generator.synthesis.L0_36_512._buffers["magnitude_ema"] = payload
    elif where == "attribute":
        generator.mapping.fc0.activation = payload
    contents = {"G_ema": generator, "D": payload if where == "discriminator" else None}
    path = write_pickle(tmp_path / "network.pkl", contents, 3, marker)

    with pytest.raises(ReidError, match=re.escape(f"{path}: refused to load pickle: it references builtins.eval")):
        load_pretrained(path)
    assert not marker.exists()


def _src_to_module(src):
    raise AssertionError("stands in for NVIDIA's function at pickling time only; never called")


def test_persistence_helpers_other_than_the_reconstructor_are_refused(tmp_path):
    with nvidia_names(tmp_path / "marker") as patch:
        patch.setattr(sys.modules["torch_utils.persistence"], "_src_to_module", _src_to_module, raising=False)
        patch.setattr(_src_to_module, "__module__", "torch_utils.persistence")
        data = pickle.dumps({"G_ema": Payload(_src_to_module, "import os")}, protocol=4)
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(ReidError, match="references torch_utils.persistence._src_to_module"):
        load_pretrained(path)


@pytest.mark.parametrize("zip_format", [True, False])
def test_project_checkpoint_yields_g_ema(tmp_path, zip_format):
    generator, generator_ema = Generator(), Generator()
    path = tmp_path / "checkpoint.pt"
    checkpoint = {"G": generator.state_dict(), "D": {"w": torch.ones(2)}, "G_ema": generator_ema.state_dict(),
                  "kimg": 12}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    assert_same_tensors(load_pretrained(path), generator_ema.state_dict())


def test_project_checkpoint_without_generator_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"D": {"w": torch.ones(2)}, "kimg": 12}, path)
    with pytest.raises(ReidError, match="neither 'G_ema' nor 'G'"):
        load_pretrained(path)


@pytest.mark.parametrize("data", [b"\x00\x01garbage bytes\xff" * 8, b"", b"\x80\x04\x95"])
def test_file_that_is_neither_checkpoint_nor_pickle_is_refused(tmp_path, data):
    path = tmp_path / "weights.pkl"
    path.write_bytes(data)
    with pytest.raises(ReidError, match=re.escape(f"{path}: neither a torch checkpoint nor a network pickle")):
        load_pretrained(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReidError, match=re.escape(f"{tmp_path / 'absent.pkl'}: no such file")):
        load_pretrained(tmp_path / "absent.pkl")
