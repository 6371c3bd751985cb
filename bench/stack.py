"""The benchmarks' embedded stack: a Temporal dev server on a SQLite file, an embedded PostgreSQL migrated to the
current schema, encrypted payloads, and the records the worker writes with; each benchmark adds its workers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from temporalio.client import Client

from activities.database import create_pool
from activities.migrations import migrate
from activities.records import ComplaintRecords
from bench.cpu import CpuMeter, postmaster_pid
from complaints.postgres_server import POSTGRES_DIR, embedded_postgres
from complaints.temporal_server import TEMPORAL_PID, free_port, temporal_dev_server
from domain.calendar import WorkingCalendar
from starter.client import ComplaintClient
from starter.codec import EncryptionKey, KeyRing
from starter.connection import connect_temporal
from starter.settings import Settings

COMPLAINT_QUEUE = "bench-complaints"


@dataclass
class Stack:
    """The run's embedded stack: what every figure needs."""

    work: Path
    dsn: str
    address: str
    key_ring: KeyRing
    client: Client
    pool: asyncpg.Pool
    records: ComplaintRecords
    calendar: WorkingCalendar
    settings: Settings

    @property
    def complaints(self) -> ComplaintClient:
        return ComplaintClient(self.client, self.settings.task_queue)

    def meter(self) -> CpuMeter:
        """This process (client and in-process worker), the Temporal dev server, PostgreSQL (all backends)."""
        return CpuMeter(
            single={"bench process": os.getpid(), "temporal": int((self.work / "temporal" / TEMPORAL_PID).read_text())},
            families={"postgres": postmaster_pid(self.work / "pg" / POSTGRES_DIR)},
        )


@asynccontextmanager
async def embedded_stack(work: Path) -> AsyncIterator[Stack]:
    key_ring = KeyRing([EncryptionKey.generate("bench")])
    calendar = WorkingCalendar()
    async with AsyncExitStack() as stack:
        dsn = await stack.enter_async_context(embedded_postgres(work / "pg"))
        address = await stack.enter_async_context(temporal_dev_server(work / "temporal", free_port(), free_port()))
        client = await connect_temporal(address, key_ring=key_ring)
        pool = await create_pool(dsn)
        stack.push_async_callback(pool.close)
        await migrate(pool)
        settings = Settings(task_queue=COMPLAINT_QUEUE, metrics_address="", data_dir=work)  # its link key too
        records = ComplaintRecords(pool, calendar, settings.notifications())
        yield Stack(work, dsn, address, key_ring, client, pool, records, calendar, settings)
