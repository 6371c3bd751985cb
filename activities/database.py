"""The Postgres connection pool shared by the worker's activities, the outbox sender and the tests."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    """jsonb in and out as plain Python values, so callers pass dicts, not JSON strings they built by hand."""
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            schema="pg_catalog",
            encoder=lambda value: json.dumps(value, ensure_ascii=False),
            decoder=json.loads,
        )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose every connection has the jsonb codec installed."""
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)


def dsn_for_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database: tests and the dev stack create their own."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))
