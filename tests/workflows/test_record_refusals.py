"""A record write that retrying cannot fix is not retried for ever: PostgreSQL refusing a transition's data (here
a CHECK constraint injected into this module's database) leaves the complaint alive and taking valid actions.

An action whose write is refused is not applied (the caller hears why); a clock whose write is refused has still
happened (its effect stays, or it would fire again and again); a registration that is refused fails the start,
which may be sent again. Each refusal is listed for admins, counted and logged once, without the data."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from samples import COMPLAINTS, clean_env
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from workflow_support import assert_record_matches

from activities.database import dsn_for_database
from activities.queries import ComplaintQueries
from domain.actions import Action, Role
from domain.models import Stage
from starter.client import ActionFailed, ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}


@pytest.fixture(scope="module", autouse=True)
async def poisoned(pool: asyncpg.Pool) -> None:
    """Data the record refuses for good (SQLSTATE 23514), as a NUL byte or an out-of-range value would be."""
    await pool.execute(
        "ALTER TABLE complaint_events ADD CONSTRAINT poisoned_note CHECK (coalesce(data->>'text', '') <> 'poison')"
    )
    await pool.execute(
        "ALTER TABLE complaint_events ADD CONSTRAINT poisoned_clock"
        " CHECK (kind <> 'first_response_escalated' OR complaint_id NOT LIKE 'poisoned-clock-%')"
    )
    await pool.execute("ALTER TABLE complaints ADD CONSTRAINT poisoned_subject CHECK (subject <> 'poison')")


async def refusals(pool: asyncpg.Pool, complaint_id: str) -> list[tuple[int, str, str, str | None]]:
    rows = await pool.fetch(
        "SELECT seq, kind, error, sqlstate FROM record_refusals WHERE complaint_id = $1 ORDER BY id", complaint_id
    )
    return [(row["seq"], row["kind"], row["error"], row["sqlstate"]) for row in rows]


async def test_a_refused_action_is_not_applied_and_the_complaint_moves_on(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, postgres_uri: str
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    with pytest.raises(ActionFailed) as refused:
        await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "poison"})
    assert "not applied" in refused.value.reason and "listed for admins" in refused.value.reason
    assert await refusals(pool, cid) == [(2, "add_note", "CheckViolationError", "23514")]

    state = await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    assert state.stage is Stage.ANALYSING
    state = await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "ghi chú bình thường"})
    assert [e.kind for e in (await complaints.state(cid)).timeline] == ["received", "acknowledge", "add_note"]
    await assert_record_matches(pool, await complaints.state(cid))
    listed = await ComplaintQueries(pool).record_refusals()
    assert any(row["complaint_id"] == cid and row["case_number"] == started.case_number for row in listed)

    database = dsn_for_database(postgres_uri, await pool.fetchval("SELECT current_database()"))
    shown = await asyncio.to_thread(
        subprocess.run,
        [str(COMPLAINTS), "refusals", "--limit", "5"],
        env=clean_env(DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    mine = [row for row in json.loads(shown.stdout) if row["complaint_id"] == cid]
    assert [(row["case_number"], row["kind"], row["sqlstate"]) for row in mine] == [
        (started.case_number, "add_note", "23514")
    ]
    assert "poison" not in shown.stdout, "the refused data itself is never listed"


async def test_a_refused_clock_has_still_happened_and_fires_once(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, time_env: WorkflowEnvironment
) -> None:
    started = await complaints.start(intake(complaint_id="poisoned-clock-1"))
    cid = started.complaint_id
    await time_env.sleep(timedelta(hours=25))
    state = await complaints.state(cid)
    assert state.first_response_breached, "the escalation happened, though its record was refused"
    assert [e.kind for e in state.timeline] == ["received", "first_response_reminded", "first_response_escalated"]
    assert await refusals(pool, cid) == [(3, "first_response_escalated", "CheckViolationError", "23514")]

    state = await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    assert state.stage is Stage.ANALYSING and state.last_seq == 4
    seqs = [row["seq"] for row in await pool.fetch("SELECT seq FROM complaint_events WHERE complaint_id = $1", cid)]
    assert sorted(seqs) == [1, 2, 4], "the refused event is the one gap, listed in record_refusals"
    snapshot = await pool.fetchrow(
        "SELECT first_response_breached, last_seq FROM complaints WHERE complaint_id = $1", cid
    )
    assert snapshot is not None and (snapshot["first_response_breached"], snapshot["last_seq"]) == (True, 4)


async def test_a_refused_registration_fails_the_start_which_may_be_sent_again(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    poisoned = intake(subject="poison")
    cid = poisoned["complaint_id"]
    with pytest.raises(ActionFailed) as refused:
        await complaints.start(poisoned)
    assert "the record refused this received" in refused.value.reason
    assert (await complaints.handle(cid).describe()).status is WorkflowExecutionStatus.FAILED
    assert await refusals(pool, cid) == [(1, "received", "CheckViolationError", "23514")]
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", cid) == 0

    fixed = await complaints.start({**poisoned, "subject": "VPS mất kết nối"})
    assert fixed.complaint_id == cid and fixed.stage is Stage.RECEIVED
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", cid) == 1
