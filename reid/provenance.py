"""What made a result: the project source files a stage runs, and the hashes that resume keys carry.

A checkpoint resumed after a code change would put new code next to old
weights in `dvc.lock`, so a resume key covers the bytes of every `reid`
module the stage imports, transitively and including imports inside
functions. The same walk checks `dvc.yaml`: each stage must depend on exactly
these files (tests/test_dependencies.py).
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "reid"
PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent


def module_file(name: str) -> Path | None:
    """The source file of project module `name` (a package's __init__.py), None if it is not one."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = SOURCE_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    parts = path.resolve().relative_to(SOURCE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(path: Path) -> set[str]:
    """Project modules named by any import statement of `path` (`from a import b` may import module a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if module_file(name) is not None}


def _parents(name: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def is_trivial(path: Path) -> bool:
    """A file of nothing but a docstring (package markers): it cannot change a result."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


@lru_cache(maxsize=None)
def source_closure(entry: str) -> tuple[Path, ...]:
    """Every non-trivial project source file that running `entry` (a module name or a script path) can execute."""
    start = Path(entry) if entry.endswith(".py") else module_file(entry)
    if start is None or not start.is_file():
        raise ValueError(f"{entry}: neither a project module nor a script")
    seen, todo = {start.resolve()}, [start.resolve()]
    while todo:
        path = todo.pop()
        for name in _imported_names(path):
            for module in (*_parents(name), name):
                file = module_file(module)
                if file is not None and file.resolve() not in seen:
                    seen.add(file.resolve())
                    todo.append(file.resolve())
    return tuple(sorted(path for path in seen if not is_trivial(path)))


def code_digest(entry: str) -> str:
    """sha256 over the project source files of `entry` (paths relative to the package and bytes)."""
    digest = hashlib.sha256()
    for path in source_closure(entry):
        if path.is_relative_to(SOURCE_ROOT):
            digest.update(path.relative_to(SOURCE_ROOT).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (weights a run loads: a replaced file at the same path is another run)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
