"""params.yaml sections -> typed, frozen config dataclasses.

Each stage reads one section; unknown keys are refused (a typo in params.yaml
would otherwise be silently ignored and the run would use a default).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from reid.errors import ReidError

T = TypeVar("T")


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


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Accept YAML's ints where a float is expected; refuse other type changes."""
    if isinstance(default, bool) or default is None:
        ok = default is None or isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str) or value is None
        value = "" if value is None else value
    else:
        ok = True
    if not ok:
        raise ReidError(f"params: {key} must be a {type(default).__name__}, got {value!r}")
    return value


def from_section(cls: type[T], values: dict | None, section: str) -> T:
    """Build dataclass `cls` from a params section, naming any bad key."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ReidError(f"params: unknown key {section}.{unknown[0]} (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, value in values.items():
        default = fields[name].default
        if default is dataclasses.MISSING:
            default = fields[name].default_factory()  # type: ignore[misc]
        if isinstance(default, dict):
            kwargs[name] = value
        else:
            kwargs[name] = _coerce(value, default, f"{section}.{name}")
    return cls(**kwargs)
