"""The embedded development stack: a Temporal dev server, a PostgreSQL and the worker, on a machine with only Python.

Each piece is a small async context manager, so `complaints dev` and the tests start exactly the same things.
Everything lives under one data directory (`temporal.db`, `postgres/`, `encryption-keys.json`, logs), so stopping
and starting again on the same directory keeps every complaint, its record, its timers and the key its payloads
are encrypted with. The servers are `complaints.temporal_server` and `complaints.postgres_server`; the data
directory and the `stack.json` the other commands find a running stack by, `complaints.data_dir`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from activities.attachments import AttachmentStore
from activities.database import create_pool
from activities.migrations import migrate
from complaints.data_dir import (
    STACK_FILE,
    STOP_TIMEOUT,
    StackError,
    StackInfo,
    links_to_stack_web,
    lock_down,
    prepare_data_dir,
    read_stack_file,
    write_stack_file,
)
from complaints.mail_catcher import mail_catcher
from complaints.mail_ingress import IngressConfig, mail_ingress
from complaints.postgres_server import embedded_postgres
from complaints.temporal_server import free_port, temporal_dev_server
from starter.client import ComplaintClient
from starter.codec import DEV_KEY_FILE, EncryptionCodec, KeyRing, ensure_key_file
from starter.connection import MissingEncryptionKeys, connect_temporal, key_ring_from_settings
from starter.settings import Settings, load_settings
from web.commands import run_web
from web.settings import WebSettings
from worker import MetricsAddressError, run_worker, worker_runtime

log = structlog.get_logger(__name__)


@dataclass
class DevStack:
    info: StackInfo
    worker: asyncio.Task[None]
    """Ends only when the stack is stopped, or when the worker fails (the caller should then stop too)."""


@contextlib.asynccontextmanager
async def _web_form(
    dsn: str, client: Any, data_dir: Path, port: int, info: StackInfo, settings: Settings, key_ring: KeyRing
) -> AsyncIterator[None]:
    """The web form on `port`, ready before `complaints dev` says so; stopped before the worker."""

    stop, ready = asyncio.Event(), asyncio.Event()
    web = asyncio.create_task(
        run_web(
            dsn,
            client,
            stop,
            port=port,
            settings=settings,
            web_settings=WebSettings(data_dir=data_dir, temporal_ui=info.temporal_ui, public_url=settings.public_url),
            dev_accounts=True,
            ready=ready,
            codec=EncryptionCodec(key_ring),
        ),
        name="web",
    )
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({web, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if web.done():
        error = web.exception() if not web.cancelled() else None
        raise StackError(f"the web form did not start on port {port}: {error}")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait({web}, timeout=STOP_TIMEOUT)
        if not web.done():
            web.cancel()


@contextlib.asynccontextmanager
async def _mail_ingress(dsn: str, client: Any, settings: Settings, key_ring: KeyRing, port: int) -> AsyncIterator[str]:
    """The mail ingress on `port`, with a small pool of its own; stopped before the worker."""
    pool = await create_pool(dsn, min_size=0, max_size=4)
    try:
        complaints = ComplaintClient(client, settings.task_queue, settings.receipt_window, settings.company())
        store = AttachmentStore(pool, key_ring, max_bytes=settings.attachment_max_bytes)
        async with mail_ingress(complaints, pool, store, IngressConfig.from_settings(settings), port=port) as at:
            yield at
    finally:
        await pool.close()


async def _migrate_now(dsn: str) -> None:
    """Before saying "ready": `complaints list` works from the first second, not after the worker's first task."""

    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        await migrate(pool)
    finally:
        await pool.close()


def dev_key_ring(data_dir: Path, settings: Settings) -> tuple[KeyRing, Path | None]:
    """The configured keys, or else the data directory's key file, made on first start: dev always has a key.
    Returns the ring and the key file it came from (None for configured keys)."""

    try:
        return key_ring_from_settings(settings), None
    except MissingEncryptionKeys:
        key_file = data_dir / DEV_KEY_FILE
        return ensure_key_file(key_file), key_file


@contextlib.asynccontextmanager
async def dev_stack(
    data_dir: Path,
    *,
    temporal_port: int = 7233,
    ui_port: int = 8233,
    web_port: int | None = 8000,
    mail_port: int = 0,
    mail_ingress_port: int = 2525,
    settings: Settings | None = None,
) -> AsyncIterator[DevStack]:
    """Postgres (or `DATABASE_URL`), the Temporal dev server (or `TEMPORAL_ADDRESS`) and the worker, in-process.

    Everything is stopped on exit, in reverse: the web form, the worker, then the servers. `web_port=None`
    leaves the web form out; on first start it gets the dev accounts (agent, manager, admin). Without
    `COMPLAINTS_SMTP_HOST`, the outbox mails a local catcher on `mail_port` (0: a free one), and nothing leaves.
    Customers' mail comes in on the mail ingress, `127.0.0.1:mail_ingress_port` (0: a free one).
    """

    settings = settings or load_settings()
    data_dir = prepare_data_dir(data_dir)
    # The worker signs the portal links in customers' letters and the web form opens them: one data directory,
    # so one made-once link key (and session secret), whatever --data-dir says.
    settings = settings.model_copy(update={"data_dir": data_dir})
    lock_down(data_dir)
    running = read_stack_file(data_dir)
    if running is not None:
        raise StackError(f"`complaints dev` is already running on {data_dir} (pid {running.pid})")
    info = StackInfo(pid=os.getpid(), data_dir=str(data_dir))
    key_ring, key_file = dev_key_ring(data_dir, settings)
    info.key_file = str(key_file) if key_file else None
    try:
        runtime = worker_runtime(settings)
    except MetricsAddressError as exc:
        raise StackError(str(exc)) from None
    info.metrics = f"http://{settings.metrics_address.strip()}/metrics" if runtime else None
    async with contextlib.AsyncExitStack() as stack:
        dsn = settings.database_url
        if dsn is None:
            dsn = info.database_url = await stack.enter_async_context(embedded_postgres(data_dir))
        if web_port is not None:
            web_port = web_port or free_port()
            settings = links_to_stack_web(settings, f"http://localhost:{web_port}")
        if settings.temporal_address is None:
            temporal_port, ui_port = temporal_port or free_port(), ui_port or free_port()
            codec_endpoint = f"http://localhost:{web_port}/codec" if web_port is not None else None
            address = await stack.enter_async_context(
                temporal_dev_server(data_dir, temporal_port, ui_port, codec_endpoint=codec_endpoint)
            )
            info.temporal_address = address
            info.temporal_ui = f"http://localhost:{ui_port}"
            client = await connect_temporal(address, key_ring=key_ring, runtime=runtime)
        else:
            client = await connect_temporal(key_ring=key_ring, runtime=runtime)
        await _migrate_now(dsn)

        worker_settings = settings.model_copy(update={"database_url": dsn})
        if not (settings.smtp_host or "").strip():
            # Entered before the worker, so stopped after it: the outbox never finds its server gone.
            info.mail_catcher = await stack.enter_async_context(mail_catcher(data_dir, mail_port))
            host, _, port = info.mail_catcher.rpartition(":")
            worker_settings = worker_settings.model_copy(
                update={"smtp_host": host, "smtp_port": int(port), "smtp_security": "none", "smtp_username": None}
            )

        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(worker_settings, client, stop), name="worker")

        async def stop_worker() -> None:
            stop.set()
            await asyncio.wait({worker}, timeout=STOP_TIMEOUT)
            if not worker.done():
                log.warning("the worker did not stop in time; cancelling it")
                worker.cancel()
                await asyncio.wait({worker})
            if not worker.cancelled() and worker.exception() is not None:
                log.error("the worker failed", error=repr(worker.exception()))

        stack.push_async_callback(stop_worker)
        info.mail_ingress = await stack.enter_async_context(
            _mail_ingress(dsn, client, settings, key_ring, mail_ingress_port)
        )
        if web_port is not None:
            info.web = f"http://localhost:{web_port}"
            await stack.enter_async_context(_web_form(dsn, client, data_dir, web_port, info, settings, key_ring))
        write_stack_file(data_dir, info)
        stack.callback((data_dir / STACK_FILE).unlink, missing_ok=True)
        lock_down(data_dir)  # what the servers made on their first start
        yield DevStack(info=info, worker=worker)
