"""The `complaints` command as a service runs it: a subprocess, against a real dev server, PostgreSQL and worker."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dev_process import Processes
from samples import COMPLAINTS, clean_env

from complaints.temporal_server import free_port, temporal_dev_server
from starter.codec import EncryptionKey, KeyRing


@pytest.fixture(scope="module")
async def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The same dev server `complaints dev` runs, on free ports, its SQLite file in a temporary directory."""
    async with temporal_dev_server(tmp_path_factory.mktemp("temporal"), free_port(), free_port()) as address:
        yield address


@pytest.fixture(scope="module")
def database_url(module_database: str) -> str:
    """A database of our own on the session's PostgreSQL: the worker migrates it."""
    return module_database


@pytest.fixture(scope="module")
def server_env(temporal_address: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What a service sets to use the command: the two addresses, the encryption key, the worker's metrics
    endpoint (a free port), and a data dir with no dev stack in it."""
    return clean_env(
        TEMPORAL_ADDRESS=temporal_address,
        DATABASE_URL=database_url,
        COMPLAINTS_ENCRYPTION_KEYS=KeyRing([EncryptionKey.generate("e2e")]).to_spec(),
        COMPLAINTS_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
        COMPLAINTS_DATA_DIR=str(tmp_path_factory.mktemp("no-dev-stack")),
    )


@pytest.fixture(scope="module")
def worker(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[str]]:
    """`complaints worker` in its own process, stopped with SIGTERM like a container would stop it."""
    processes = Processes(tmp_path_factory.mktemp("worker"))
    try:
        proc = processes.launch([str(COMPLAINTS), "worker"], server_env)
        yield proc
        assert processes.stop(proc) == 0, processes.log_of(proc)
    finally:
        processes.stop_all()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Product processes a test starts itself; whatever is left is stopped at the end."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
