"""Hostile text and dates through the client SDK, as another service calls it (issue 10, rows 1, 2, 7 and 12):
refused before anything is started or sent, with the field and a stable code; a complaint that was sent a refused
note keeps taking valid actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.service import RPCError

from domain.actions import Action, Role
from domain.intake import IntakeError
from domain.models import Stage
from starter.client import ActionFailed, ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT: dict[str, Any] = {"actor": "agent.lan", "role": Role.AGENT}


async def refused_at_start(complaints: ComplaintClient, pool: asyncpg.Pool, data: dict[str, Any]) -> IntakeError:
    with pytest.raises(IntakeError) as raised:
        await complaints.start(data)
    cid = data["complaint_id"]
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", cid) == 0
    with pytest.raises(RPCError):
        await complaints.handle(cid).describe()
    return raised.value


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\u202e", "text_bidi_control"),
        ("\u200b", "text_invisible_character"),
        ("\ufeff", "text_invisible_character"),
        ("\u2028", "text_invisible_character"),
    ],
)
async def test_row_12_spoofing_characters_in_names_and_subjects(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, char: str, code: str
) -> None:
    spoofed = f"Trần{char}Bích"
    by_name = await refused_at_start(complaints, pool, intake(customer={"name": spoofed, "phone": "0912345678"}))
    assert (by_name.field, by_name.code) == ("customer.name", code)
    assert by_name.params == {"character": f"U+{ord(char):04X}"}
    by_subject = await refused_at_start(complaints, pool, intake(subject=spoofed))
    assert (by_subject.field, by_subject.code) == ("subject", code)


async def test_row_7_an_email_that_is_two_recipients(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    error = await refused_at_start(
        complaints, pool, intake(customer={"name": "Trần Thị Bích", "email": "customer@example.vn,bob"})
    )
    assert (error.field, error.code) == ("customer.email", "email_invalid")


@pytest.mark.parametrize(
    ("received_at", "code"),
    [
        ("0001-01-01T00:00:00+07:00", "received_at_out_of_range"),
        ("1000-06-01T08:00:00+07:00", "received_at_out_of_range"),
        ((datetime.now(UTC) - timedelta(days=61)).isoformat(), "received_at_too_early"),
    ],
)
async def test_row_2_receipts_the_clocks_must_not_see(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, received_at: str, code: str
) -> None:
    error = await refused_at_start(complaints, pool, intake(channel="letter", received_at=received_at))
    assert (error.field, error.code) == ("received_at", code)


async def test_the_receipt_window_is_the_clients_setting(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    narrow = ComplaintClient(complaints.client, complaints.task_queue, receipt_window=timedelta(days=7))
    eight_days_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    error = await refused_at_start(narrow, pool, intake(channel="letter", received_at=eight_days_ago))
    assert (error.code, error.params) == ("received_at_too_early", {"days": 7})
    started = await complaints.start(intake(channel="letter", received_at=eight_days_ago))
    assert started.received_at < datetime.now(UTC) - timedelta(days=7)


async def test_row_1_a_nul_in_a_note_is_refused_and_the_complaint_moves_on(
    intake: Any, complaints: ComplaintClient
) -> None:
    started = await complaints.start(intake())
    with pytest.raises(ActionFailed) as raised:  # refused before anything is sent
        await complaints.act(started.complaint_id, Action.ADD_NOTE, **AGENT, data={"text": "a \x00 b"})
    assert raised.value.reason.startswith("data.text: ") and "U+0000" in raised.value.reason

    await complaints.act(started.complaint_id, Action.ADD_NOTE, **AGENT, data={"text": "a b"})
    acknowledged = await complaints.act(started.complaint_id, Action.ACKNOWLEDGE, **AGENT)
    assert acknowledged.stage is Stage.ANALYSING
    state = await complaints.state(started.complaint_id)
    assert [e.kind for e in state.timeline] == ["received", "add_note", "acknowledge"]
