"""The Postgres connection pool shared by the worker's activities, the outbox sender and the tests."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import asyncpg.exceptions

UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08, and a connection lost mid-query
    asyncpg.exceptions.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.exceptions.AdminShutdownError,  # `pg_ctl stop -m fast` ended our session
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
"""Errors that say the server is away or full for now, not that the query or the data is wrong."""


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    """jsonb in and out as plain Python values, so callers pass dicts, not JSON strings they built by hand."""
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            schema="pg_catalog",
            encoder=lambda value: json.dumps(value, ensure_ascii=False),
            decoder=json.loads,
        )


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float | None = None
) -> asyncpg.Pool:
    """A pool whose every connection has the jsonb codec installed.

    A connection the server dropped (a restart) is replaced on the next acquire, so the pool recovers by itself.
    `connect_timeout` (asyncpg's default: 60 s) bounds each new connection: a web page should say "unavailable"
    soon rather than hang while a server that does not answer is tried."""
    extra: dict[str, Any] = {} if connect_timeout is None else {"timeout": connect_timeout}
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session, **extra
    )


async def _keep_session(conn: asyncpg.Connection[Any]) -> None:
    """What a connection needs before it goes back to the pool, beyond what asyncpg always does (roll back a
    transaction left open, drop listeners): nothing. Nothing here changes a session (no SET, LISTEN, cursors or
    session advisory locks outside the migrations, which release theirs), so asyncpg's default reset query would
    be one more round trip to PostgreSQL on every release for nothing."""


def _raised_in_asyncpg(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        if str(traceback.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
            return True
        traceback = traceback.tb_next
    return False


def database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL cannot be reached right now (stopped, restarting, unreachable, out of connections): worth a
    retry later, and worth saying so plainly, rather than a bug to show as a stack trace.

    An `OSError` (refused, no socket file, a connect timeout) counts only when asyncpg raised it while connecting
    or talking to the server: the same error from anywhere else (a missing template) is a real fault."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    return isinstance(exc, OSError) and _raised_in_asyncpg(exc.__traceback__)


PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23"})
"""Data exceptions (a NUL byte, a value out of range) and integrity violations: the same write fails every time."""


def write_cannot_succeed(exc: BaseException) -> bool:
    """A record write that retrying cannot fix: PostgreSQL refused the data itself, or the data could not even be
    encoded for it. Everything else (the server away, a timeout, a serialization conflict, a deadlock, a bug that a
    deploy may fix) is retried as before, so a complaint is never lost to an outage."""
    if isinstance(exc, asyncpg.PostgresError):
        return str(getattr(exc, "sqlstate", "") or "")[:2] in PERMANENT_SQLSTATE_CLASSES
    if isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError):
        return True  # asyncpg's own "invalid input for query argument": the value cannot be sent at all
    return isinstance(exc, UnicodeError | OverflowError)


def dsn_for_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database: tests and the dev stack create their own."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + quote(database, safe="")))


def dsn_with_password(dsn: str, password: str) -> str:
    """`dsn` with `password` put in: the password comes from its own secret file, so the URL in the compose file
    (and in any process listing) carries none. A URL that already has one is refused by the caller."""
    parts = urlsplit(dsn)
    user, at, host = parts.netloc.rpartition("@")
    if not at:
        raise ValueError("names no user to give the password to (postgresql://USER@HOST/DATABASE)")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))
