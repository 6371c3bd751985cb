"""The same start, signal and update sent 20 times at once: each applied once, each written once."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from workflow_support import eventually

from domain.actions import Action, ActionRequest, Role
from domain.models import Stage
from starter.client import ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres, pytest.mark.faults]

TIMES = 20


async def test_twenty_identical_starts_signals_and_updates_apply_once(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    data = intake()
    cid = data["complaint_id"]
    started = await asyncio.gather(*(complaints.start(dict(data)) for _ in range(TIMES)))
    assert {s.case_number for s in started} == {started[0].case_number}

    ack = [
        complaints.act(cid, Action.ACKNOWLEDGE, actor="lan", role=Role.AGENT, request_id="ack-once")
        for _ in range(TIMES)
    ]
    await asyncio.gather(*ack)
    await complaints.act(
        cid,
        Action.REQUEST_INFO,
        actor="lan",
        role=Role.AGENT,
        request_id="ask-once",
        data={"missing": ["phone"], "message": "Số điện thoại liên hệ?"},
    )
    answer = ActionRequest(request_id="mail-once", actor="email-ingest", role=Role.SYSTEM, data={"summary": "0909"})
    await asyncio.gather(*(complaints.signal(cid, Action.CUSTOMER_INFO_RECEIVED, answer) for _ in range(TIMES)))
    notes = [
        complaints.act(cid, Action.ADD_NOTE, actor="lan", role=Role.AGENT, request_id="note-once", data={"text": "n"})
        for _ in range(TIMES)
    ]
    await asyncio.gather(*notes)

    state = await eventually(
        complaints, cid, lambda s: s.stage is Stage.ANALYSING and s.timeline[-1].kind == "add_note"
    )
    kinds = [e.kind for e in state.timeline]
    assert kinds == ["received", "acknowledge", "request_info", "customer_info_received", "add_note"]

    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", cid) == 1
    assert await pool.fetchval("SELECT count(*) FROM complaint_events WHERE complaint_id = $1", cid) == len(kinds)
    assert await pool.fetchval("SELECT count(*) FROM documents WHERE complaint_id = $1", cid) == 1  # receipt form
    customer_messages = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE complaint_id = $1 AND recipient = 'customer'", cid
    )
    assert customer_messages == 3  # the receipt (started 20 times), the acknowledgement and the request, once each
