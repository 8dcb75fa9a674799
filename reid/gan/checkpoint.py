"""Pretrained generator weights for transfer learning, read without running code from the file.

Two formats are accepted: a checkpoint of this project (torch.save of a dict with "G", "D",
"G_ema" state dicts) and an official NVIDIA StyleGAN3 network pickle. A plain pickle.load of the
NVIDIA file execs the module source code stored in it (its torch_utils.persistence mechanism), so
that file goes through a restricted unpickler: it rebuilds only containers, tensors and numpy
values from an explicit allow-list, and puts inert placeholders where the networks were, from whose
kept state the tensors are read out by name.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from reid.errors import ReidError
from reid.io import load_torch_file

GENERATOR_KEYS = ("G_ema", "G")


class _InertObject:
    """Stands in for a pickled network or torch.nn module: keeps its state, runs none of its code."""

    class_name = "torch.nn module"
    state = None

    def __new__(cls, *args, **kwargs):
        # NEWOBJ and REDUCE pass the real class's constructor arguments; they are not needed.
        return super().__new__(cls)

    def __setstate__(self, state):
        self.state = state


class _AttributeDict(dict):
    """Stands in for dnnlib.util.EasyDict (network kwargs); its contents are never used."""


def _persistent_network(meta):
    """Replaces torch_utils.persistence._reconstruct_persistent_obj: keeps class name and state, never
    looks at meta['module_src'] (the source code NVIDIA's version execs)."""
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError("a persistent object has no metadata dict")
    network = _InertObject()
    network.class_name = str(meta.get("class_name"))
    network.state = meta.get("state")
    return network


def _inert_reconstructor(cls, base, state):
    """Replaces copyreg._reconstructor (protocol 0/1 objects): no class is instantiated."""
    return _InertObject()


def _latin1_bytes(text, encoding):
    """Replaces _codecs.encode, which protocols 0-2 use to spell bytes; no other codec is looked up."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"bytes encoded as {encoding!r}, not latin1")
    return codecs.encode(text, "latin1")


def _storage_from_bytes(data):
    """Replaces torch.storage._load_from_bytes, which calls torch.load(weights_only=False); CUDA storages
    of the training machine land on the CPU."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("a tensor storage is not stored as bytes")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """Replaces torch._utils._rebuild_tensor_v2, dropping the pickled requires_grad and hooks."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("a tensor is not built on a typed storage")
    tensor = torch._utils._rebuild_tensor(storage, storage_offset, size, stride)
    if metadata:
        torch._utils.set_tensor_metadata(tensor, metadata)
    return tensor


def _parameter_data(data, requires_grad, backward_hooks):
    """Replaces torch._utils._rebuild_parameter: weights are wanted as plain tensors."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("a parameter holds no tensor")
    return data


def _numpy_allow_list() -> dict:
    """numpy's own rebuild functions, under their numpy 1 (numpy.core) and numpy 2 (numpy._core) names."""
    scalar = np.float64(0).__reduce__()[0]
    reconstruct = np.zeros(1).__reduce_ex__(4)[0]
    from_buffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[f"{package}.multiarray.scalar"] = scalar
        allowed[f"{package}.multiarray._reconstruct"] = reconstruct
        allowed[f"{package}.numeric._frombuffer"] = from_buffer
    return allowed


# Every global a network pickle may reference, by qualified name; torch.nn.modules.* classes are
# allowed too, as _InertObject. Anything else is refused before it is imported.
ALLOWED_GLOBALS = {
    "collections.OrderedDict": OrderedDict,
    "builtins.set": set,
    "builtins.object": object,  # with builtins.dict, the base classes protocol 0/1 name to copyreg._reconstructor
    "builtins.dict": dict,
    "_codecs.encode": _latin1_bytes,
    "copyreg._reconstructor": _inert_reconstructor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _parameter_data,
    "torch.storage._load_from_bytes": _storage_from_bytes,
    "torch_utils.persistence._reconstruct_persistent_obj": _persistent_network,
    "dnnlib.util.EasyDict": _AttributeDict,
    **_numpy_allow_list(),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals only through ALLOWED_GLOBALS; the pickle cannot name anything else to call."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        # Protocols 0-2 spell Python 2 names (__builtin__, copy_reg); the base class would map them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualified = f"{module}.{name}"
        if qualified in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[qualified]
        if module.startswith("torch.nn.modules.") and name.isidentifier():
            return _InertObject
        raise ReidError(
            f"{self.path}: refused to load pickle: it references {qualified}, which is not a tensor or container"
        )


def _one_line(exc: Exception) -> str:
    first_line = str(exc).strip().splitlines()[:1]
    return ": ".join([type(exc).__name__, *first_line])


def _unpickle_restricted(path: Path):
    with open(path, "rb") as file:
        try:
            return _RestrictedUnpickler(file, path).load()
        except ReidError:
            raise
        except Exception as exc:  # pickle, torch and numpy raise many types for a malformed file
            raise ReidError(f"{path}: neither a torch checkpoint nor a network pickle ({_one_line(exc)})") from None


def _module_tensors(network: _InertObject, path: Path, key: str) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers, recursively through submodules, named as state_dict() names them."""
    tensors: dict[str, torch.Tensor] = {}

    def entries(module: _InertObject, prefix: str, field: str) -> list:
        mapping = module.state.get(field, {})
        if not isinstance(mapping, dict) or not all(isinstance(name, str) for name in mapping):
            raise ReidError(f"{path}: {key}.{prefix}{field} in the pickle is not a dict of named entries")
        return list(mapping.items())

    def visit(module: _InertObject, prefix: str, ancestors: frozenset[int]) -> None:
        if not isinstance(module.state, dict):
            where = f"{key}.{prefix}".rstrip(".")
            raise ReidError(f"{path}: {where} in the pickle is a {module.class_name} without module state")
        non_persistent = module.state.get("_non_persistent_buffers_set") or set()  # absent before torch 1.6
        if not isinstance(non_persistent, set):
            raise ReidError(f"{path}: {key}.{prefix}_non_persistent_buffers_set in the pickle is not a set")
        for field in ("_parameters", "_buffers"):
            for name, value in entries(module, prefix, field):
                if value is None or (field == "_buffers" and name in non_persistent):
                    continue
                if type(value) is not torch.Tensor:
                    raise ReidError(f"{path}: {key}.{prefix}{name} in the pickle is not a tensor")
                # detach: a crafted pickle could have set requires_grad or hooks on the tensor
                tensors[prefix + name] = value.detach()
        for name, child in entries(module, prefix, "_modules"):
            if child is None:
                continue
            if not isinstance(child, _InertObject) or id(child) in ancestors:
                raise ReidError(f"{path}: {key}.{prefix}{name} in the pickle is not a submodule")
            visit(child, f"{prefix}{name}.", ancestors | {id(child)})

    visit(network, "", frozenset({id(network)}))
    return tensors


def _generator_from_pickle(contents, path: Path) -> dict[str, torch.Tensor]:
    key = next((key for key in GENERATOR_KEYS if isinstance(contents, dict) and key in contents), None)
    if key is None:
        raise ReidError(f"{path}: network pickle has no 'G_ema' or 'G' network")
    if not isinstance(contents[key], _InertObject):
        raise ReidError(f"{path}: '{key}' in the network pickle is not a network")
    return _module_tensors(contents[key], path, key)


def _generator_from_checkpoint(checkpoint, path: Path) -> dict[str, torch.Tensor]:
    key = next((key for key in GENERATOR_KEYS if isinstance(checkpoint, dict) and key in checkpoint), None)
    if key is None:
        raise ReidError(f"{path}: checkpoint has neither 'G_ema' nor 'G'")
    state = checkpoint[key]
    if not isinstance(state, dict) or not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in state.items()
    ):
        raise ReidError(f"{path}: checkpoint '{key}' is not a state dict of named tensors")
    return dict(state)


def load_pretrained(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The generator's tensors by state_dict name ("G_ema", else "G") from a project checkpoint or an
    NVIDIA StyleGAN3 network pickle; no code stored in the file is run."""
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        return _generator_from_checkpoint(load_torch_file(path, "checkpoint"), path)
    contents = _unpickle_restricted(path)
    if isinstance(contents, int) and contents == torch.serialization.MAGIC_NUMBER:
        # torch.save(..., _use_new_zipfile_serialization=False) starts with this number
        return _generator_from_checkpoint(load_torch_file(path, "checkpoint"), path)
    return _generator_from_pickle(contents, path)
