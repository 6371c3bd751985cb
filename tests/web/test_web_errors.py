"""Errors that stay tidy (issue 10, row 8 and point 6): every error page carries the same security headers as a
normal page, a query string no page can take is a 400 naming the parameter (never a 500 from PostgreSQL), only
the configured hosts are answered, and the web app's `/metrics` answers only the holder of its token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from web_support import SignIn, sign_in, take_in

from starter.client import ComplaintClient
from web.app import build_web_app
from web.forms import MAX_BODY_BYTES
from web.middleware import PERMISSIONS_POLICY
from web.settings import WebSettings

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

METRICS_TOKEN = "metrics-token-for-tests-0123456789"
SECRET_DETAIL = "Nguyễn Văn Bí Mật at line 42"


def assert_secured(response: httpx.Response) -> None:
    """The headers every answer carries, error pages included."""
    headers = response.headers
    assert "script-src 'none'" in headers.get("content-security-policy", ""), (response.status_code, headers)
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("referrer-policy") == "same-origin"
    assert headers.get("cache-control") == "no-store"
    assert headers.get("permissions-policy") == PERMISSIONS_POLICY
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in headers["permissions-policy"]


async def failing_route(request: Request) -> Response:
    raise RuntimeError(SECRET_DETAIL)


@pytest.fixture(scope="module")
async def failing_app(
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    web_settings: WebSettings,
    staff: dict[str, str],
) -> Starlette:
    """The real app with one more route that fails as a bug would, and a metrics token."""
    settings = web_settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    app = build_web_app(complaints, pool, settings)
    app.router.routes.append(Route("/fails", failing_route, methods=["GET"]))
    return app


@pytest.fixture
async def browser(failing_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on `failing_app` that sees the 500 page rather than the exception Starlette raises on."""
    transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_every_error_page_carries_the_security_headers(
    signed_in: SignIn,
    browser: httpx.AsyncClient,
    complaints: ComplaintClient,
    dead_pool: asyncpg.Pool,
    web_settings: WebSettings,
) -> None:
    agent = await signed_in("agent")
    answers = {
        400: await agent.get("/?q=%00"),
        403: await agent.get("/users"),
        404: await agent.get("/no/such/page"),
        405: await agent.put("/"),
        413: await agent.post(
            "/complaints/new",
            content=b"x" * (MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415: await agent.post("/login", json={"username": "agent"}),
        500: await browser.get("/fails"),
    }
    dead_app = build_web_app(complaints, dead_pool, web_settings)
    transport = httpx.ASGITransport(app=dead_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", cookies=agent.cookies) as away:
        answers[503] = await away.get("/")
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text[:300])
        assert_secured(response)
        assert response.headers["content-type"].startswith("text/html"), status
        assert "Traceback" not in response.text


async def test_a_failure_is_our_own_500_page_without_its_detail(browser: httpx.AsyncClient) -> None:
    failed = await browser.get("/fails", params={"lang": "en"})
    assert failed.status_code == 500
    assert_secured(failed)
    assert "Something went wrong on our side" in failed.text
    assert SECRET_DETAIL not in failed.text and "RuntimeError" not in failed.text
    vietnamese = await browser.get("/fails")
    assert "Đã có lỗi từ phía hệ thống" in vietnamese.text


async def test_a_nul_in_the_search_is_a_400_naming_it(signed_in: SignIn, anonymous: httpx.AsyncClient) -> None:
    """Row 8: `GET /?q=%00` was a 500 (PostgreSQL refuses the NUL) without any security header."""
    agent = await signed_in("agent")
    refused = await agent.get("/?q=%00")
    assert refused.status_code == 400
    assert_secured(refused)
    assert "q (" in refused.text and "U+0000" in refused.text
    assert (await agent.get("/?q=b%C3%ACnh")).status_code == 200  # a plain search still works
    before_sign_in = await anonymous.get("/?q=%00")
    assert before_sign_in.status_code == 400
    assert_secured(before_sign_in)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=-1", "page"),
        ("page=0", "page"),
        ("page=99999999999999999999", "page"),
        ("page=%C2%B2", "page"),  # a superscript two: a digit to `str.isdigit`, not a page number
        ("page=1e3", "page"),
        ("stage=nonsense", "stage"),
        ("channel=carrier-pigeon", "channel"),
        ("department=..%2Fetc", "department"),
        ("q=" + "x" * 101, "q"),
        ("q=a%E2%80%AEb", "q"),  # a right-to-left override
        ("q=a%0Ab", "q"),
        ("lang=%00", "lang"),
        ("stage=closed&channel=letter%00", "channel"),
        ("x%00=1", "'x\\x00'"),
        ("q=" + "a," * 1100, "q"),
    ],
)
async def test_a_query_parameter_no_page_can_take_is_400(signed_in: SignIn, query: str, parameter: str) -> None:
    agent = await signed_in("agent")
    response = await agent.get(f"/?{query}")
    assert response.status_code == 400, response.text[:300]
    assert_secured(response)
    assert f": {parameter} (" in response.text.replace("&#39;", "'")  # named, in either language


INBOX_PARAMETERS = st.sampled_from(["q", "page", "stage", "channel", "department", "lang", "next", "other"])
QUERY_VALUES = st.one_of(
    st.text(max_size=30),  # any Unicode
    st.text(alphabet="\x00\x1f\x85\u200b\u202e\u2028\ufeff a1%", max_size=8),  # the hostile few
    st.integers().map(str),
    st.sampled_from(["open", "all", "closed", "letter", "customer_care", "en", "vi", ""]),  # what the page offers
)


@pytest.fixture(scope="module")
async def agent(app: Starlette, staff: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """One agent signed in for the whole module: property tests send many requests, signing in once."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await sign_in(client, staff["agent"])
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(INBOX_PARAMETERS, QUERY_VALUES), max_size=4))
@example(params=[("q", "\x00")])  # row 8
@example(params=[("page", "99999999999999999999")])
@example(params=[("department", "billing\x00")])
async def test_no_query_string_makes_the_inbox_fail(agent: httpx.AsyncClient, params: list[tuple[str, str]]) -> None:
    """Whatever Unicode a link carries, the inbox shows it or refuses it by name: never a 500."""
    response = await agent.get("/?" + urlencode(params))
    assert response.status_code in (200, 303, 400), (params, response.status_code)
    assert_secured(response)


async def test_the_inbox_still_takes_every_value_it_offers(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    for query in ("stage=all", "stage=open", "stage=closed", "channel=", "department=", "page=", "page=2", "q=KN-"):
        assert (await agent.get(f"/?{query}")).status_code == 200, query


async def test_the_complaint_page_refuses_a_bad_timeline_page(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    complaint_id = await take_in(agent)
    assert (await agent.get(f"/complaints/{complaint_id}?page=1")).status_code == 200
    for bad in ("0", "-1", "abc", "%00", "99999999999999999999"):
        response = await agent.get(f"/complaints/{complaint_id}?page={bad}")
        assert response.status_code == 400, bad
        assert_secured(response)
    past_the_end = await agent.get(f"/complaints/{complaint_id}?page=2")
    assert past_the_end.status_code == 404
    assert_secured(past_the_end)


async def test_only_the_configured_hosts_are_answered(
    complaints: ComplaintClient, pool: asyncpg.Pool, web_settings: WebSettings
) -> None:
    default = build_web_app(complaints, pool, web_settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=default), base_url="http://testserver") as client:
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "testserver"):
            assert (await client.get("/login", headers={"Host": host})).status_code == 200, host
        for host in ("evil.example", "localhost.evil.example", "127.0.0.1.nip.io:8000"):
            refused = await client.get("/login", headers={"Host": host})
            assert refused.status_code == 400, host
            assert_secured(refused)
            assert "csrf_token" not in refused.text

    configured = web_settings.model_copy(update={"allowed_hosts": ["complaints.example.vn"]})
    app = build_web_app(complaints, pool, configured)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/login")).status_code == 400
        assert (await client.get("/login", headers={"Host": "complaints.example.vn"})).status_code == 200


def test_allowed_hosts_come_from_a_comma_separated_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_ALLOWED_HOSTS", " complaints.example.vn, ::1 ,*.Example.VN,")
    assert WebSettings().allowed_hosts == ["complaints.example.vn", "[::1]", "*.example.vn"]
    monkeypatch.delenv("COMPLAINTS_ALLOWED_HOSTS")
    assert "localhost" in WebSettings().allowed_hosts and "[::1]" in WebSettings().allowed_hosts


async def test_metrics_answer_only_the_token(
    browser: httpx.AsyncClient, anonymous: httpx.AsyncClient, signed_in: SignIn
) -> None:
    assert (await anonymous.get("/metrics")).status_code == 404, "no token configured: as if there were none"
    agent = await signed_in("agent")
    assert (await agent.get("/metrics")).status_code == 404, "a session is no token"

    await browser.get("/login")
    for headers in ({}, {"Authorization": f"Bearer {METRICS_TOKEN}x"}, {"Authorization": f"Basic {METRICS_TOKEN}"}):
        refused = await browser.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "complaints_web_requests_total" not in refused.text
        assert_secured(refused)
    metrics = await browser.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert 'complaints_web_requests_total{method="GET",route="/login",status="200"}' in metrics.text
    assert 'route="/metrics",status="401"' in metrics.text
