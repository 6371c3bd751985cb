"""`worker.py`'s own imports keep the layer contract too.

`lint-imports` checks every import of `worker` (it is a node of the graph), but not the imports in it: import-linter
takes only packages as roots, and `worker.py` is a module. The layers are read from the contract itself, so there
is one list of them."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _layers() -> list[set[str]]:
    """The contract's layers, highest first, each a set of its (sibling) modules."""
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    (contract,) = (c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def _imported_top_level_modules(source: Path) -> set[str]:
    """Every module `source` imports, at the top or inside a function, by its top-level name."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    return imported


def test_worker_imports_only_from_the_layers_below_it() -> None:
    layers = _layers()
    position = next(index for index, layer in enumerate(layers) if "worker" in layer)
    above_or_beside = set().union(*layers[:position], layers[position] - {"worker"})
    assert above_or_beside, "the contract names no layer above the worker: is this the right contract?"
    assert _imported_top_level_modules(PROJECT / "worker.py") & above_or_beside == set()
