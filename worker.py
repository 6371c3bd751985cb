"""Builds and runs the worker: connections, activities, the workflow and the outbox sender, wired together."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import structlog
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.database import create_pool
from activities.migrations import migrate
from activities.outbox import OutboxSender
from activities.records import ComplaintRecords
from domain.calendar import load_calendar
from starter.connection import connect_temporal, register_search_attributes
from starter.settings import Settings, load_settings
from workflows.complaint import ComplaintWorkflow

log = structlog.get_logger()


def build_worker(client: Client, records: ComplaintRecords, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ComplaintWorkflow],
        activities=[records.register_complaint, records.record_transition, records.compute_cycle_clocks],
        max_cached_workflows=settings.max_cached_workflows,
    )


async def ensure_search_attributes(client: Client) -> None:
    """A fresh cluster gets the search attributes; one that forbids it (Temporal Cloud) had them set up by hand."""
    try:
        await register_search_attributes(client)
    except RPCError as exc:
        log.warning("search attributes not registered", status=exc.status.name)


async def run_worker(
    settings: Settings | None = None,
    client: Client | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (or forever): migrations first, so a fresh database is ready before any task."""
    settings = settings or load_settings()
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is not set (or run `complaints dev`, which starts an embedded PostgreSQL)")
    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        pool = await create_pool(settings.database_url)
        stack.push_async_callback(pool.close)
        await migrate(pool)
        records = ComplaintRecords(pool, load_calendar(settings.calendar_file))
        client = client or await connect_temporal()
        await ensure_search_attributes(client)
        sender = OutboxSender(pool, settings)
        worker = build_worker(client, records, settings)
        log.info("worker started", task_queue=settings.task_queue)
        async with worker:
            await asyncio.gather(sender.run(stop), stop.wait())


if __name__ == "__main__":
    asyncio.run(run_worker())
