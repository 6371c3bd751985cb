"""Apply `migrations/*.sql` at start-up, each file once, in name order.

Several workers and web processes may start together against one database, so the whole run holds a
session-level advisory lock: the first process applies what is missing, the others wait and then find
nothing left to do. Each file runs in its own transaction together with its `schema_migrations` row, so a
failed file leaves no half-applied schema and is tried again next start.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool
import structlog

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
"""`migrations/` next to the `activities` package, in the source tree and in the installed wheel alike."""

MIGRATION_LOCK_KEY = 7_310_412_020_260_001
"""Advisory lock id (one-bigint form) held while migrating; an arbitrary constant owned by this project."""

Connectable: TypeAlias = "asyncpg.Pool | asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

log = structlog.get_logger(__name__)

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files in the order they apply: by file name, so `0002_...` follows `0001_...`."""
    return sorted(directory.glob("*.sql"), key=lambda path: path.name)


async def migrate(pool_or_conn: Connectable, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the files not applied yet; return their names (empty when the schema is current)."""
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await _migrate(conn, directory)
    return await _migrate(pool_or_conn, directory)


async def _migrate(conn: asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any], directory: Path) -> list[str]:
    files = migration_files(directory)
    if not files:
        raise FileNotFoundError(f"no migrations found in {directory}")
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_CREATE_LEDGER)
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations")
        applied = {row["name"]: row["checksum"] for row in rows}
        newly_applied: list[str] = []
        for path in files:
            sql = path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
            if path.name in applied:
                if applied[path.name] != checksum:
                    # An applied file was edited: the database will not follow. Loud, but not fatal, because
                    # refusing to start a worker over a comment change would be worse than the warning.
                    log.warning("migration changed after it was applied", migration=path.name)
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", path.name, checksum
                )
            log.info("migration applied", migration=path.name)
            newly_applied.append(path.name)
        return newly_applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
