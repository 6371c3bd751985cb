"""Helpers of the web tests: signing in, reading a page's CSRF token and request ids, submitting forms."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct horse battery"
TEMPORAL_UI = "http://temporal-ui.test"

SignIn = Callable[[str], Awaitable[httpx.AsyncClient]]
"""The `signed_in` fixture: `await signed_in("agent")` is a client signed in with that role's user."""


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/login")
    response = await client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "username": username, "password": password, "next": "/"}
    )
    assert response.status_code == 303, response.text
    return response


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def request_id_of(html: str, action: str) -> str:
    """The request id embedded in one action's form."""
    form = re.search(rf'action="/complaints/[^"]+/actions/{action}"(.*?)</form>', html, re.S)
    assert form, f"no form for {action} in the page"
    found = re.search(r'name="request_id" value="([^"]+)"', form.group(1))
    assert found
    return found.group(1)


def intake_form(**overrides: str) -> dict[str, str]:
    """What an agent types for a complaint by phone."""
    data = {
        "channel": "phone",
        "customer.name": "Nguyễn Văn An",
        "customer.phone": "0912 345 678",
        "customer.email": "",
        "customer.address": "",
        "customer.contact_person": "",
        "subject": "Hóa đơn tháng 10 bị tính hai lần",
        "description": "Khách hàng gọi lên báo hóa đơn tháng 10 bị trừ tiền hai lần.",
        "service": "Internet cáp quang",
        "department": "customer_care",
        "received_at": "",
        "complaint_key": uuid.uuid4().hex,
    }
    data.update(overrides)
    return data


async def take_in(client: httpx.AsyncClient, **overrides: str) -> str:
    """Take a complaint in through the form; returns its complaint id."""
    page = await client.get("/complaints/new")
    response = await client.post("/complaints/new", data={"csrf_token": csrf_of(page.text), **intake_form(**overrides)})
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/complaints/([^/]+)/received", response.headers["location"])
    assert match
    return match.group(1)


async def act(
    client: httpx.AsyncClient, complaint_id: str, action: str, data: dict[str, Any] | None = None, **extra: Any
) -> httpx.Response:
    """Submit one action's form as rendered on the complaint page (its CSRF token and request id)."""
    page = await client.get(f"/complaints/{complaint_id}")
    assert page.status_code == 200
    form: dict[str, Any] = {
        "csrf_token": csrf_of(page.text),
        "request_id": request_id_of(page.text, action),
        **(data or {}),
        **extra,
    }
    return await client.post(f"/complaints/{complaint_id}/actions/{action}", data=form)


ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Debian's Chromium, as the machine's probe starts it: nothing downloaded, no background connections."""


SEED_SQL = """
INSERT INTO complaints (
    complaint_id, case_number, workflow_id, stage, department, channel, subject, cycle, received_at,
    first_response_due, first_responded_at, resolution_due, resolution_due_date, first_response_breached,
    resolution_breached, escalation_level, last_seq, state, customer
)
SELECT
    'seed-' || n,
    'KN-2025-' || lpad((900000 + n)::text, 6, '0'),
    'complaint-seed-' || n,
    (ARRAY['received', 'analysing', 'awaiting_customer', 'cause_identified', 'awaiting_approval', 'approved',
           'answered', 'closed', 'closed', 'closed', 'merged', 'withdrawn'])[1 + n % 12],
    (ARRAY['customer_care', 'billing', 'technical', 'sales', 'legal'])[1 + n % 5],
    (ARRAY['branch', 'phone', 'letter', 'email', 'support_ticket', 'web'])[1 + n % 6],
    (ARRAY['Mất kết nối Internet', 'Hóa đơn sai cước', 'Thái độ nhân viên', 'Chậm lắp đặt', 'Không nhận được OTP'])
        [1 + n % 5] || ' #' || n,
    1,
    received,
    received + interval '24 hours',
    CASE WHEN n % 3 = 0 THEN NULL ELSE received + interval '2 hours' END,
    received + interval '28 days',
    (received + interval '28 days')::date,
    n % 3 = 0 AND received < now() - interval '24 hours',
    n % 17 = 0,
    CASE WHEN n % 17 = 0 THEN 3 ELSE 0 END,
    1,
    '{}'::jsonb,
    jsonb_build_object(
        'name', (ARRAY['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Hoàng', 'Vũ'])[1 + n % 6] || ' Văn Khách ' || n,
        'phone', '09' || lpad(n::text, 8, '0')
    )
FROM generate_series(1, $1::int) AS n,
     LATERAL (SELECT now() - (n % 45) * interval '1 day' - (n % 24) * interval '1 hour' AS received) AS r
"""


async def seed_complaints(pool: Any, count: int) -> None:
    """`count` complaints straight into the read model (no workflows): what the inbox reads, at scale."""
    async with pool.acquire() as conn:
        await conn.execute(SEED_SQL, count)
        await conn.execute("ANALYZE complaints")
