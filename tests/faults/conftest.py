"""Fixtures for the fault drills: a database of the module's own, and `complaints worker` processes to kill.

The conftest of tests/starter is not visible here; this copies the little of it the drills need. The web tests'
helpers (signing in, acting through a form) are put on the import path for the fleet drill.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_support import Workers

from starter.codec import EncryptionKey, KeyRing

sys.path.append(str(Path(__file__).resolve().parent.parent / "web"))


@pytest.fixture(scope="module")
def database_url(module_database: str) -> str:
    """An empty database of the module's own: the worker migrates it."""
    return module_database


@pytest.fixture(scope="module")
def key_ring() -> KeyRing:
    return KeyRing([EncryptionKey.generate("faults")])


@pytest.fixture
def workers(database_url: str, key_ring: KeyRing, tmp_path: Path) -> Iterator[Workers]:
    (tmp_path / "no-dev-stack").mkdir()
    started = Workers(database_url, key_ring, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
