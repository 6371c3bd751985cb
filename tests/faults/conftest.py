"""Fixtures for the fault drills: a database of the module's own, and `complaints worker` processes to kill.

The conftest of tests/starter is not visible here; this copies the little of it the drills need.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from fault_support import Workers

from activities.database import dsn_for_database
from starter.codec import EncryptionKey, KeyRing


@pytest.fixture(scope="module")
async def database_url(postgres_uri: str) -> AsyncIterator[str]:
    """An empty database of the module's own (the worker migrates it); dropped afterwards."""
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield dsn_for_database(postgres_uri, name)
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
