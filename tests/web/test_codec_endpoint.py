"""The codec server on the web app (`/codec/decode`, `/codec/encode`): Temporal's remote codec protocol behind the
web form's sign-in, CORS for the Temporal UI's origin only, and the web app's `/metrics`."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from starlette.applications import Starlette
from temporalio.testing import WorkflowEnvironment
from web_support import TEMPORAL_UI, SignIn, intake_form, sign_in, take_in

from starter.client import ComplaintClient
from web.app import build_web_app
from web.settings import WebSettings

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

NAMESPACE = "default"
TOKEN = "codec-token-for-tests-0123456789"
UI_HEADERS = {"Origin": TEMPORAL_UI, "X-Namespace": NAMESPACE, "Content-Type": "application/json"}
CUSTOMER = "Nguyễn Văn An"


@pytest.fixture(scope="module")
async def codec_app(
    time_env: WorkflowEnvironment,
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    web_settings: WebSettings,
    staff: dict[str, str],
) -> Starlette:
    """The app with the same codec as the worker and the client (the time-skipping environment's key ring)."""
    settings = web_settings.model_copy(update={"codec_token": SecretStr(TOKEN), "metrics_token": SecretStr(TOKEN)})
    codec = time_env.client.data_converter.payload_codec
    assert codec is not None
    return build_web_app(complaints, pool, settings, codec)


@pytest.fixture
async def as_role(codec_app: Starlette, staff: dict[str, str]) -> AsyncIterator[SignIn]:
    clients: list[httpx.AsyncClient] = []

    async def open_as(role: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=codec_app), base_url="http://testserver")
        clients.append(client)
        if role != "anonymous":
            await sign_in(client, staff[role])
        return client

    yield open_as
    for client in clients:
        await client.aclose()


def json_payload(value: Any) -> dict[str, Any]:
    """A payload as the UI sends it: protobuf JSON, metadata and data in base64."""
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(value, ensure_ascii=False).encode()).decode(),
    }


def plain_text(payload: dict[str, Any]) -> str:
    return base64.b64decode(payload.get("data", "")).decode("utf-8", errors="replace")


async def test_encode_then_decode_round_trips_with_a_manager_session(as_role: SignIn) -> None:
    manager = await as_role("manager")
    original = json_payload({"customer": {"name": CUSTOMER, "phone": "0912 345 678"}})
    encoded = await manager.post("/codec/encode", json={"payloads": [original]}, headers=UI_HEADERS)
    assert encoded.status_code == 200, encoded.text
    assert encoded.headers["access-control-allow-origin"] == TEMPORAL_UI
    assert encoded.headers["access-control-allow-credentials"] == "true"
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert CUSTOMER.encode() not in base64.b64decode(sealed["data"])
    assert CUSTOMER not in encoded.text

    decoded = await manager.post("/codec/decode", json={"payloads": [sealed]}, headers=UI_HEADERS)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == {"payloads": [original]}
    assert CUSTOMER in plain_text(decoded.json()["payloads"][0])


async def test_an_admin_decodes_a_real_complaints_history(
    as_role: SignIn, time_env: WorkflowEnvironment, staff: dict[str, str]
) -> None:
    """The workflow's input as Temporal stores it (ciphertext), decoded for the operator as the UI would ask."""
    agent = await as_role("agent")
    complaint_id = await take_in(agent)
    history = await time_env.client.get_workflow_handle(f"complaint-{complaint_id}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    stored = [json_format.MessageToDict(payload) for payload in started.input.payloads]
    assert stored
    assert all(CUSTOMER.encode() not in base64.b64decode(p["data"]) for p in stored)

    admin = await as_role("admin")
    decoded = await admin.post("/codec/decode", json={"payloads": stored}, headers=UI_HEADERS)
    assert decoded.status_code == 200, decoded.text
    assert any(CUSTOMER in plain_text(p) for p in decoded.json()["payloads"])


async def test_without_a_session_401_and_nothing_in_the_answer(as_role: SignIn) -> None:
    anonymous = await as_role("anonymous")
    sealed = json_payload({"customer": {"name": CUSTOMER}})
    for path in ("/codec/decode", "/codec/encode"):
        response = await anonymous.post(path, json={"payloads": [sealed]}, headers=UI_HEADERS)
        assert response.status_code == 401, path
        assert CUSTOMER not in response.text
        assert "payloads" not in response.text


async def test_an_agent_gets_403(as_role: SignIn) -> None:
    agent = await as_role("agent")
    manager = await as_role("manager")
    encoded = await manager.post(
        "/codec/encode", json={"payloads": [json_payload({"name": CUSTOMER})]}, headers=UI_HEADERS
    )
    sealed = encoded.json()
    response = await agent.post("/codec/decode", json=sealed, headers=UI_HEADERS)
    assert response.status_code == 403
    assert CUSTOMER not in response.text and "payloads" not in response.text
    assert (await agent.post("/codec/encode", json=sealed, headers=UI_HEADERS)).status_code == 403


async def test_a_foreign_origin_gets_no_cors_headers(as_role: SignIn) -> None:
    manager = await as_role("manager")
    foreign = {**UI_HEADERS, "Origin": "https://evil.example"}
    body = {"payloads": [json_payload({"name": CUSTOMER})]}
    response = await manager.post("/codec/encode", json=body, headers=foreign)
    assert response.status_code == 403
    assert not any(name.startswith("access-control-") for name in response.headers)
    preflight = await manager.options(
        "/codec/decode",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert preflight.status_code == 403
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    sandboxed = await manager.post("/codec/decode", json=body, headers={**UI_HEADERS, "Origin": "null"})
    assert sandboxed.status_code == 403
    assert not any(name.startswith("access-control-") for name in sandboxed.headers)
    # the web app's own origin is fine (no CORS needed), and so is no Origin at all (the CLI)
    own = await manager.post("/codec/encode", json=body, headers={**UI_HEADERS, "Origin": "http://testserver"})
    assert own.status_code == 200
    assert "access-control-allow-origin" not in own.headers
    bare = {"X-Namespace": NAMESPACE}
    assert (await manager.post("/codec/encode", json=body, headers=bare)).status_code == 200


async def test_preflight_from_the_ui_origin(as_role: SignIn) -> None:
    anonymous = await as_role("anonymous")  # a preflight never carries credentials
    for path in ("/codec/decode", "/codec/encode"):
        response = await anonymous.options(
            path,
            headers={
                "Origin": TEMPORAL_UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert response.status_code == 204, path
        assert response.headers["access-control-allow-origin"] == TEMPORAL_UI
        assert response.headers["access-control-allow-credentials"] == "true"
        allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
        assert allowed == {"content-type", "x-namespace", "authorization"}
        assert "POST" in response.headers["access-control-allow-methods"]


async def test_the_namespace_header_is_required(as_role: SignIn) -> None:
    manager = await as_role("manager")
    body = {"payloads": [json_payload({"name": CUSTOMER})]}
    headers = {key: value for key, value in UI_HEADERS.items() if key != "X-Namespace"}
    missing = await manager.post("/codec/encode", json=body, headers=headers)
    assert missing.status_code == 400
    assert missing.headers["access-control-allow-origin"] == TEMPORAL_UI  # so the UI can show why
    wrong = await manager.post("/codec/encode", json=body, headers={**UI_HEADERS, "X-Namespace": "other"})
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"payloads": "x"}',
        b'{"payloads": [1]}',
        b'{"payloads": [], "extra": 1}',
        b'{"payloads": [{"metadata": {"encoding": "not base64!"}, "data": ""}]}',
        # well-formed, but encrypted under a key nobody has
        b'{"payloads": [{"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "bm9uZQ=="},'
        b' "data": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}',
    ],
)
async def test_a_malformed_body_is_400(as_role: SignIn, body: bytes) -> None:
    manager = await as_role("manager")
    response = await manager.post("/codec/decode", content=body, headers=UI_HEADERS)
    assert response.status_code == 400
    assert response.json() == {"error": "malformed request or a payload that cannot be decoded"}


async def test_a_body_too_large_is_413(as_role: SignIn) -> None:
    manager = await as_role("manager")
    response = await manager.post("/codec/decode", content=b" " * (4 * 1024 * 1024 + 1), headers=UI_HEADERS)
    assert response.status_code == 413


async def test_the_bearer_token_works_without_a_session(as_role: SignIn) -> None:
    anonymous = await as_role("anonymous")
    body = {"payloads": [json_payload({"customer": {"name": CUSTOMER}})]}
    good = {"X-Namespace": NAMESPACE, "Authorization": f"Bearer {TOKEN}"}
    encoded = await anonymous.post("/codec/encode", json=body, headers=good)
    assert encoded.status_code == 200, encoded.text
    decoded = await anonymous.post("/codec/decode", json=encoded.json(), headers=good)
    assert decoded.json() == body
    bad = {"X-Namespace": NAMESPACE, "Authorization": f"Bearer {TOKEN[:-1]}x"}
    refused = await anonymous.post("/codec/decode", json=encoded.json(), headers=bad)
    assert refused.status_code == 401
    assert CUSTOMER not in refused.text


async def test_no_token_configured_means_no_token_accepted(
    complaints: ComplaintClient, pool: asyncpg.Pool, web_settings: WebSettings
) -> None:
    app = build_web_app(complaints, pool, web_settings.model_copy(update={"codec_token": None}), None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.post(
            "/codec/decode", json={"payloads": []}, headers={"X-Namespace": NAMESPACE, "Authorization": "Bearer "}
        )
        assert response.status_code == 401


async def test_metrics_count_requests_by_route_template(as_role: SignIn) -> None:
    agent = await as_role("agent")
    complaint_id = await take_in(agent, **{"customer.name": "Trần Thị Bình"})
    assert (await agent.get(f"/complaints/{complaint_id}")).status_code == 200
    assert (await agent.get("/no/such/page")).status_code == 404
    await agent.post("/codec/decode", json={"payloads": []}, headers=UI_HEADERS)  # 403 for an agent

    metrics = await agent.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text

    def count(method: str, route: str, status: int) -> float:
        line = f'complaints_web_requests_total{{method="{method}",route="{route}",status="{status}"}} '
        found = re.search(rf"^{re.escape(line)}(\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    assert count("GET", "/complaints/{complaint_id}", 200) >= 1
    assert count("POST", "/complaints/new", 303) >= 1
    assert count("GET", "/login", 200) >= 1
    assert count("GET", "unmatched", 404) >= 1
    assert count("POST", "/codec/decode", 403) >= 1
    assert "# TYPE complaints_web_request_duration_seconds histogram" in text
    assert re.search(r'^complaints_web_request_duration_seconds_count\{.*route="/complaints/new".*\} \d', text, re.M)
    assert complaint_id not in text  # the path with the id never becomes a label
    assert "Trần Thị Bình" not in text and "no/such/page" not in text
    assert intake_form()["customer.name"] not in text
