"""The migration runner: each file once, in order, safely when several processes start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from activities.database import create_pool
from activities.migrations import migrate, migration_files


def all_migrations() -> list[str]:
    return [path.name for path in migration_files()]


async def test_migrations_are_found_in_name_order() -> None:
    names = all_migrations()
    assert names[0] == "0001_schema.sql"
    assert names == sorted(names)


async def test_migrate_applies_each_file_once(empty_database: str) -> None:
    pool = await create_pool(empty_database)
    try:
        assert await migrate(pool) == all_migrations()
        assert await migrate(pool) == []
        async with pool.acquire() as conn:
            recorded = [row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")]
            tables = {
                row["tablename"]
                for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
        assert recorded == all_migrations()
        assert {"complaints", "complaint_events", "outbox", "documents", "schema_migrations"} <= tables
    finally:
        await pool.close()


async def test_concurrent_migrations_apply_once(empty_database: str) -> None:
    """Workers and web processes starting together: one applies, the others wait and find nothing to do."""
    connections = [await asyncpg.connect(empty_database) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(conn) for conn in connections))
        applied = sorted(name for result in results for name in result)
        assert applied == all_migrations()
        assert sum(1 for result in results if result) == 1
        count = await connections[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(all_migrations())
        # The session lock is released: another run takes it at once.
        assert await asyncio.wait_for(migrate(connections[1]), timeout=5) == []
    finally:
        for conn in connections:
            await conn.close()


async def test_the_module_pool_is_migrated(pool: asyncpg.Pool) -> None:
    assert await migrate(pool) == []


async def test_a_failing_file_leaves_nothing_half_applied(empty_database: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE second_table (id int); SELECT no_such_column;")
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(asyncpg.UndefinedColumnError):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('second_table')") is None
        assert [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")] == ["0001_first.sql"]

        (tmp_path / "0002_broken.sql").write_text("CREATE TABLE second_table (id int);")
        assert await migrate(conn, tmp_path) == ["0002_broken.sql"]
        assert await conn.fetchval("SELECT to_regclass('second_table')::text") == "second_table"
    finally:
        await conn.close()
