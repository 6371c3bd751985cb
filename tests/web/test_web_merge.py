"""Row 3 of the hardening issue, through the web form: merging a duplicate received earlier would move the
primary's deadlines earlier, possibly into the past; an agent is refused, a manager may do it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import pytest
from web_support import SignIn, act, take_in

from domain.calendar import BUSINESS_TZ

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


async def snapshot(pool: asyncpg.Pool, complaint_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT stage, case_number, received_at, resolution_due, escalation_level FROM complaints"
        " WHERE complaint_id = $1",
        complaint_id,
    )
    assert row is not None
    return row


async def test_a_merge_that_moves_deadlines_earlier_needs_a_manager(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent, manager = await signed_in("agent"), await signed_in("manager")
    primary = await take_in(agent)
    letter_day = (datetime.now(BUSINESS_TZ) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    duplicate = await take_in(agent, channel="letter", received_at=letter_day)
    before = await snapshot(pool, primary)

    refused = await act(agent, duplicate, "merge_into", {"primary_case_number": before["case_number"]})
    assert refused.status_code == 409
    assert "chỉ quản lý mới được làm việc này" in refused.text  # worded from the refusal's code
    assert await snapshot(pool, primary) == before, "the primary's promised deadlines did not move"
    assert (await snapshot(pool, duplicate))["stage"] == "received"

    merged = await act(manager, duplicate, "merge_into", {"primary_case_number": before["case_number"]})
    assert merged.status_code == 303, merged.text
    assert (await snapshot(pool, duplicate))["stage"] == "merged"
    for _ in range(100):  # the primary takes the notice by signal
        after = await snapshot(pool, primary)
        if after["received_at"] != before["received_at"]:
            break
        await asyncio.sleep(0.05)
    duplicate_row = await snapshot(pool, duplicate)
    assert after["received_at"] == duplicate_row["received_at"] < before["received_at"]
    assert after["resolution_due"] < before["resolution_due"]
