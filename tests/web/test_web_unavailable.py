"""The web form while PostgreSQL is away (issue 5, Faults 3), browser-free: every page that needs the records says
"records temporarily unavailable" with 503 and Retry-After instead of a stack trace, and the endpoints that do not
need the database (`/metrics`, `/healthz`, the codec with its bearer token) answer as always.

The outage is a pool on a socket directory where no server listens, so each connection attempt fails as it does
while a server is stopped; the drill in tests/faults/test_postgres_outage.py stops a real one and restarts it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from temporalio.testing import WorkflowEnvironment
from web_support import SignIn, csrf_of, intake_form, take_in

import web.routes.complaints
from activities.database import database_unavailable
from starter.client import ComplaintClient
from web.app import build_web_app
from web.settings import RETRY_AFTER_SECONDS, WebSettings

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

TOKEN = "codec-token-for-outage-tests-0123"
UNAVAILABLE_VI = "Tạm thời không truy cập được hồ sơ"
UNAVAILABLE_EN = "Records temporarily unavailable"


@pytest.fixture(scope="module")
async def dead_app(
    time_env: WorkflowEnvironment, complaints: ComplaintClient, dead_pool: asyncpg.Pool, web_settings: WebSettings
) -> Starlette:
    """The web form on the dead pool, with the same session secret as the live `app` (a session made there is
    valid here) and the codec with a bearer token."""
    settings = web_settings.model_copy(update={"codec_token": SecretStr(TOKEN), "metrics_token": SecretStr(TOKEN)})
    codec = time_env.client.data_converter.payload_codec
    return build_web_app(complaints, dead_pool, settings, codec)


@pytest.fixture
async def outage_client(dead_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=dead_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_unavailable_page(response: httpx.Response, text: str = UNAVAILABLE_VI) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text
    assert "Traceback" not in response.text
    assert "asyncpg" not in response.text


async def test_every_page_with_records_says_unavailable(
    signed_in: SignIn, outage_client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    live = await signed_in("agent")
    complaint_id = await take_in(live)
    new_page = await live.get("/complaints/new")
    outage_client.cookies = live.cookies

    for path in ("/", "/?stage=closed", f"/complaints/{complaint_id}", f"/complaints/{complaint_id}/received"):
        response = await outage_client.get(path)
        assert_unavailable_page(response)
        assert "Thử lại" in response.text and f'href="{path.replace("&", "&amp;")}"' in response.text
        assert "Đăng xuất" not in response.text, "rendered without the user: looking them up needs the database"

    before = await pool.fetchval("SELECT count(*) FROM complaints")
    submitted = await outage_client.post(
        "/complaints/new", data={"csrf_token": csrf_of(new_page.text), **intake_form()}
    )
    assert_unavailable_page(submitted)
    assert "Biểu mẫu của bạn chưa được gửi" in submitted.text
    assert await pool.fetchval("SELECT count(*) FROM complaints") == before, "nothing was taken in"

    action = await outage_client.post(
        f"/complaints/{complaint_id}/actions/acknowledge",
        data={"csrf_token": csrf_of(new_page.text), "request_id": "web:outage-1"},
    )
    assert_unavailable_page(action)

    english = await outage_client.get("/?lang=en")
    assert_unavailable_page(english, UNAVAILABLE_EN)
    assert "Try again in a moment." in english.text


async def test_sign_in_says_unavailable_but_the_rest_answers(outage_client: httpx.AsyncClient) -> None:
    login = await outage_client.get("/login")
    assert login.status_code == 200, "the sign-in page itself needs no database"
    refused = await outage_client.post(
        "/login", data={"csrf_token": csrf_of(login.text), "username": "agent.lan", "password": "whatever it is"}
    )
    assert_unavailable_page(refused)
    assert (await outage_client.get("/healthz")).text == "ok"
    assert (await outage_client.get("/static/style.css")).status_code == 200

    metrics = await outage_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200
    assert 'complaints_web_requests_total{method="POST",route="/login",status="503"} 1.0' in metrics.text


async def test_codec_with_a_session_says_unavailable_with_a_token_works(
    signed_in: SignIn, outage_client: httpx.AsyncClient
) -> None:
    manager = await signed_in("manager")
    outage_client.cookies = manager.cookies
    payload = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps("xin chào").encode()).decode(),
    }
    body = json.dumps({"payloads": [payload]})
    headers = {"X-Namespace": "default", "Content-Type": "application/json"}

    by_session = await outage_client.post("/codec/encode", content=body, headers=headers)
    assert by_session.status_code == 503
    assert by_session.json() == {"error": "records temporarily unavailable"}
    assert by_session.headers["retry-after"] == str(RETRY_AFTER_SECONDS)

    outage_client.cookies.clear()
    by_token = await outage_client.post(
        "/codec/encode", content=body, headers={**headers, "Authorization": f"Bearer {TOKEN}"}
    )
    assert by_token.status_code == 200, by_token.text
    assert len(by_token.json()["payloads"]) == 1


async def test_other_errors_are_still_errors(
    app: Starlette, signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OSError that did not come from the database (a file missing) is a bug: a 500, not "unavailable"."""
    live = await signed_in("agent")

    async def broken(*args: object, **kwargs: object) -> object:
        raise FileNotFoundError(2, "No such file or directory", "inbox.sql")

    monkeypatch.setattr(web.routes.complaints, "load_inbox", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", cookies=live.cookies) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert UNAVAILABLE_VI not in response.text


async def test_which_errors_mean_unavailable(dead_pool: asyncpg.Pool) -> None:
    try:
        await dead_pool.fetchval("SELECT 1")
    except OSError as exc:
        from_asyncpg: OSError = exc
    else:
        raise AssertionError("the dead pool connected")
    assert database_unavailable(from_asyncpg)
    assert database_unavailable(asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"))
    assert database_unavailable(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    assert database_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    assert database_unavailable(asyncpg.exceptions.TooManyConnectionsError("too many clients"))
    assert not database_unavailable(FileNotFoundError(2, "No such file or directory"))
    assert not database_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not database_unavailable(ValueError("bad input"))
