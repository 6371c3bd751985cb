"""What the `complaints` command runs for the web form: `complaints web`, `complaints user ...`, and the web
form inside `complaints dev`. Each is one coroutine, so the command line only parses arguments and calls it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TypeVar

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from activities.database import create_pool
from activities.migrations import migrate
from starter.client import ComplaintClient
from starter.settings import Settings, load_settings
from web.app import build_web_app
from web.server import serve
from web.settings import WebSettings
from web.users import DEV_PASSWORD, User, add_user, ensure_dev_accounts

log = structlog.get_logger(__name__)

T = TypeVar("T")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
CONNECT_TIMEOUT = 5.0
"""Seconds a page waits for a new PostgreSQL connection before it says "records temporarily unavailable"."""


async def run_web(
    database_url: str,
    client: Client,
    stop: asyncio.Event,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    settings: Settings | None = None,
    web_settings: WebSettings | None = None,
    dev_accounts: bool = False,
    ready: asyncio.Event | None = None,
    codec: PayloadCodec | None = None,
) -> None:
    """Serve the web form until `stop` is set: migrations first, then (for `complaints dev`) the dev accounts.

    `complaints web`: `run_web(DATABASE_URL, await connect_temporal(), stop, host=..., port=...)`.
    `complaints dev`: the same with the stack's DSN and client, `dev_accounts=True`, and
    `web_settings=WebSettings(data_dir=..., temporal_ui=stack.info.temporal_ui)`, and its key ring's codec.

    `codec` serves `/codec/decode` and `/codec/encode` for the Temporal UI; by default it is the client's own
    payload codec (the configured key ring), so the codec server reads exactly what the client writes.
    """
    settings = settings or load_settings()
    web_settings = web_settings or WebSettings()
    async with AsyncExitStack() as stack:
        pool = await create_pool(database_url, connect_timeout=CONNECT_TIMEOUT)
        stack.push_async_callback(pool.close)
        await migrate(pool)
        if dev_accounts:
            created = await ensure_dev_accounts(pool)
            if created:
                log.warning(
                    "dev accounts created: sign in with one of them on this machine only",
                    usernames=[user.username for user in created],
                    password=DEV_PASSWORD,
                )
        codec = codec or client.data_converter.payload_codec
        complaints = ComplaintClient(
            client, settings.task_queue, receipt_window=settings.receipt_window, company=settings.company()
        )
        app = build_web_app(complaints, pool, web_settings, codec)
        await serve(
            app,
            host,
            port,
            stop,
            ready=ready,
            proxy_headers=web_settings.proxy_headers,
            forwarded_allow_ips=web_settings.forwarded_allow_ips,
        )


async def create_user(database_url: str, username: str, password: str, role: str) -> User:
    """`complaints user add USERNAME --role agent|manager|admin` (password from a prompt or stdin).

    Raises `web.users.UserError` with a message fit to print when the name is taken or a field is bad.
    """
    return await administer_users(database_url, lambda pool: add_user(pool, username, password, role))


async def administer_users(database_url: str, change: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """`complaints user ...`: one change (or the list) on a migrated database, through a pool of one connection.

    The changes are `web.users`' own, so the command line keeps the rules the users page keeps (the last admin
    stays; disabling and a new password end the user's sessions)."""
    pool = await create_pool(database_url, min_size=1, max_size=1, connect_timeout=CONNECT_TIMEOUT)
    try:
        await migrate(pool)
        return await change(pool)
    finally:
        await pool.close()
