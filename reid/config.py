"""params.yaml sections -> typed, frozen config dataclasses, plus `--set` overrides.

Each stage reads one section. Every value is checked against its field's type
hint and unknown keys are refused, so a typo or a wrong type in params.yaml is a
one-line ReidError naming the dotted key, not a silent default or a traceback
deep inside a stage. A sub-section is a field typed with another dataclass.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reid.errors import ReidError

T = TypeVar("T")

_SCALARS = (bool, int, float, str)
_EXPONENT_WITHOUT_DOT = re.compile(r"[-+]?\d+[eE][-+]?\d+")


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise ReidError(f"{path}: params file not found")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ReidError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(params, dict):
        raise ReidError(f"{path}: expected a mapping of sections at the top level")
    return params


def load_section(name: str, path: str | Path = "params.yaml") -> dict:
    """One section of the params file; a missing section is an error, not silent defaults."""
    params = load_params(path)
    if name not in params:
        raise ReidError(f"{path}: no '{name}:' section")
    return params[name] or {}


def _child(key: str, name: Any) -> str:
    """Dotted key of `name` below `key`; repr keeps a key holding a newline on one line."""
    return f"{key}.{name}" if str(name).isprintable() else f"{key}.{name!r}"


def _is_section(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _describe(hint: Any) -> str:
    """The expected type in words, for error messages; an unsupported hint is a programming error."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        return hint.__name__
    if origin in (typing.Union, types.UnionType) and all(arg in _SCALARS for arg in args):
        return " or ".join(arg.__name__ for arg in args)
    if origin is list and len(args) == 1:
        return f"list of {_describe(args[0])}"
    if origin is dict and len(args) == 2 and args[0] is str:
        return f"mapping of str to {_describe(args[1])}"
    if _is_section(hint):
        return "mapping (section)"
    raise TypeError(f"config fields support bool, int, float, str, unions of those, list[X], dict[str, X] and "
                    f"dataclasses, not {hint!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _convert(value: Any, hint: Any, key: str) -> Any:
    """`value` checked against `hint`: YAML ints become floats; `key:` with no value is empty (str, list, mapping)."""
    expected = _describe(hint)
    if _is_section(hint):
        return from_section(hint, value, key)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # the first member that takes the value
        for member in typing.get_args(hint):
            try:
                return _convert(value, member, key)
            except ReidError:
                continue
        raise ReidError(f"params: {key} must be {expected}, got {value!r}")
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if value is None and origin in (str, list, dict):
        return origin()
    if origin is list and isinstance(value, list):
        return [_convert(item, args[0], f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _convert(item, args[1], _child(key, k)) for k, item in value.items()}
    if origin is float and _is_number(value):
        if not abs(value) <= sys.float_info.max:  # inf, nan, or an int too large for a float
            raise ReidError(f"params: {key} must be a finite number, got {value!r}")
        return float(value)
    if origin in (bool, int, str) and isinstance(value, origin) and not (origin is int and isinstance(value, bool)):
        return value
    article = "an" if expected[0] in "aeiou" else "a"
    why = ""
    if origin is float and isinstance(value, str) and _EXPONENT_WITHOUT_DOT.fullmatch(value):
        why = " (YAML reads an exponent without a dot as text: write e.g. 1.0e-3)"
    raise ReidError(f"params: {key} must be {article} {expected}, got {value!r}{why}")


def from_section(cls: type[T], values: dict | None, section: str) -> T:
    """Build dataclass `cls` from a params section, naming the dotted key of any bad key or value."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ReidError(f"params: {section} must be a mapping (section), got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in fields:
        _describe(hints[name])  # an unsupported hint fails even when the params omit the key
    unknown = sorted((key for key in values if key not in fields), key=str)
    if unknown:
        raise ReidError(f"params: unknown key {_child(section, unknown[0])} (known: {', '.join(sorted(fields))})")
    required = [
        name for name, f in fields.items()
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if required:
        raise ReidError(f"params: missing key {section}.{required[0]}")
    return cls(**{name: _convert(value, hints[name], f"{section}.{name}") for name, value in values.items()})


def _merge(base: dict, update: dict) -> None:
    """Merge `update` into `base` in place, recursing where both sides hold a mapping."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def apply_overrides(values: dict, pairs: list[str], section: str) -> dict:
    """A copy of params section `values` with `--set key=value` pairs on top, merged like `dvc exp run -S`.

    The value is YAML; a dotted key (optionally prefixed with `<section>.`) sets one
    key inside nested mappings, and a mapping value is merged into an existing
    mapping, so `--set detector={backend: x}` keeps the detector's other keys.
    """
    result = copy.deepcopy(values or {})
    for pair in pairs:
        shown = pair if pair.isprintable() else repr(pair)
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if key.startswith(f"{section}."):
            key = key[len(section) + 1:]
        parts = key.split(".")
        if not sep or not all(parts) or not key.isprintable():
            raise ReidError(f"--set expects key=value, got {pair!r}")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ReidError(f"--set {shown}: value is not valid YAML ({str(exc).splitlines()[0]})") from None
        node = result
        for depth, part in enumerate(parts[:-1], start=1):
            if node.get(part) is None:
                node[part] = {}
            elif not isinstance(node[part], dict):
                parent = ".".join(parts[:depth])
                raise ReidError(f"--set {shown}: {section}.{parent} is {node[part]!r}, not a mapping")
            node = node[part]
        _merge(node, {parts[-1]: value})
    return result
