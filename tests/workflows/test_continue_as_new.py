"""History stays bounded (issue 5, correctness 3): a complaint that collects thousands of notes and follow-ups
continues as new when Temporal suggests it, carrying its whole state and its clocks, losing nothing and leaving
no handler unfinished.

The time-skipping server never suggests continue-as-new, so this runs on the dev server, told to suggest it after
a few hundred events (the default is 4 Ki events or 4 MiB) so that one test sees many hand-overs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from workflow_support import TEST_DATA_CONVERTER, assert_record_matches

from activities.records import ComplaintRecords
from complaints.temporal_server import free_port, temporal_dev_server
from domain.actions import Action, Role
from domain.models import ComplaintInput, ComplaintState, Stage
from domain.policy import POLICY
from starter.client import ComplaintClient
from starter.settings import Settings
from worker import build_worker

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

SUGGEST_AFTER_EVENTS = 400
"""The dev server suggests continue-as-new once a run's history has this many events."""
ACTIONS = 2_000
FOLLOWUP_EVERY = 10
"""Every tenth action is a follow-up (a message to the customer, so an outbox row); the rest are notes."""
IN_FLIGHT = 8

AGENT = {"actor": "agent.lan", "role": Role.AGENT}


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    data_dir: Path = tmp_path_factory.mktemp("temporal")
    limits = {"limit.historyCount.suggestContinueAsNew": str(SUGGEST_AFTER_EVENTS)}
    async with temporal_dev_server(data_dir, free_port(), free_port(), dynamic_config=limits) as address:
        yield await Client.connect(address, data_converter=TEST_DATA_CONVERTER)


@pytest.fixture(scope="module")
async def complaints(server: Client, records: ComplaintRecords) -> AsyncIterator[ComplaintClient]:
    settings = Settings(task_queue=f"complaints-{uuid.uuid4().hex[:8]}")
    async with build_worker(server, records, settings):
        yield ComplaintClient(server, settings.task_queue)


async def run_ids(client: Client, workflow_id: str) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    """Every run of the workflow id, oldest first, following the continue-as-new chain from the first run."""
    runs: list[tuple[str, WorkflowExecutionStatus | None]] = []
    run_id: str | None = (
        await client.get_workflow_handle(workflow_id).describe()
    ).raw_description.workflow_execution_info.first_run_id
    while run_id:
        description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        runs.append((run_id, description.status))
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            break
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return runs


async def in_flight(count: int, send: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """`send(0..count-1)`, at most IN_FLIGHT at a time, as agents and services working one complaint would."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> Any:
        async with gate:
            return await send(n)

    return await asyncio.gather(*(one(n) for n in range(count)))


def unfinished_handler_warnings(recwarn: pytest.WarningsRecorder) -> list[str]:
    """The SDK's TMPRL1102 warning: a run ended (here, continued as new) while a handler was still running."""
    return [str(w.message) for w in recwarn if "TMPRL1102" in str(w.message)]


async def test_thousands_of_notes_and_follow_ups_continue_as_new_with_nothing_lost(
    complaints: ComplaintClient, server: Client, pool: asyncpg.Pool, intake: Any, recwarn: pytest.WarningsRecorder
) -> None:
    cid = (await complaints.start(intake())).complaint_id
    workflow_id = complaints.handle(cid).id
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)

    def send(n: int) -> Awaitable[ComplaintState]:
        if n % FOLLOWUP_EVERY == FOLLOWUP_EVERY - 1:
            return complaints.act(
                cid, Action.REPORT_FOLLOWUP, **AGENT, data={"fault": f"sự cố {n}"}, request_id=f"a-{n}"
            )
        return complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": f"ghi chú {n}"}, request_id=f"a-{n}")

    answers = await in_flight(ACTIONS, send)
    assert len({answer.last_seq for answer in answers}) == ACTIONS, "each action answered with its own event"
    # The same requests again, after many hand-overs: the carried request ids make them no-ops.
    again = await in_flight(50, send)
    state = await complaints.state(cid)
    assert state.last_seq == 2 + ACTIONS and [a.last_seq for a in again] == [state.last_seq] * 50

    runs = await run_ids(server, workflow_id)
    # An action writes at least three events (update accepted, the record's local-activity marker, update completed)
    # and a run keeps fewer than 2 * SUGGEST_AFTER_EVENTS (checked below).
    assert len(runs) >= ACTIONS * 3 // (2 * SUGGEST_AFTER_EVENTS), f"only {len(runs)} runs"
    assert all(status is WorkflowExecutionStatus.CONTINUED_AS_NEW for _, status in runs[:-1])
    assert runs[-1][1] is WorkflowExecutionStatus.RUNNING
    carried_sizes: list[int] = []
    for run_id, _ in runs:
        history = await server.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        assert len(history.events) < 2 * SUGGEST_AFTER_EVENTS, f"run {run_id} kept {len(history.events)} events"
        started = history.events[0].workflow_execution_started_event_attributes
        carried_sizes.append(started.input.ByteSize())
    # What each run carries grows by the request ids only, not by the notes: the timeline stays in Postgres.
    assert carried_sizes[-1] < 100_000, carried_sizes
    first_input = await TEST_DATA_CONVERTER.decode(
        (await server.get_workflow_handle(workflow_id, run_id=runs[1][0]).fetch_history())
        .events[0]
        .workflow_execution_started_event_attributes.input.payloads,
        [ComplaintInput],
    )
    assert first_input[0].carried is not None and first_input[0].carried.case_number == state.case_number

    assert len(state.timeline) == POLICY.timeline_kept
    assert [e.seq for e in state.timeline] == list(range(state.last_seq - POLICY.timeline_kept + 1, state.last_seq + 1))
    assert set(state.applied_requests) >= {f"a-{n}" for n in range(ACTIONS)}
    await assert_record_matches(pool, state)
    followups = ACTIONS // FOLLOWUP_EVERY
    receipt_and_acknowledgement = 2  # the complaint came by e-mail: its receipt went out before anything else
    outbox = await pool.fetchval("SELECT count(*) FROM outbox WHERE complaint_id = $1", cid)
    assert outbox == receipt_and_acknowledgement + followups
    seqs = [
        r["seq"] for r in await pool.fetch("SELECT seq FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", cid)
    ]
    assert seqs == list(range(1, state.last_seq + 1))

    # The complaint still works through to the end after all the hand-overs.
    for action, role, data in [
        (Action.CAUSE_IDENTIFIED, Role.SYSTEM, {"cause": "ổ đĩa hỏng", "company_at_fault": True, "departments": []}),
        (Action.PROPOSE_PLAN, Role.AGENT, {"plan": "thay ổ đĩa"}),
        (Action.MANAGER_APPROVAL, Role.MANAGER, {"approved": True, "comment": "đồng ý"}),
        (Action.SEND_RESOLUTION, Role.AGENT, {"reply": "Đã thay ổ đĩa.", "channels": ["email"]}),
        (Action.CLOSE, Role.AGENT, {"summary": "xong", "lessons_learned": "theo dõi SMART"}),
    ]:
        await complaints.act(cid, action, actor="staff", role=role, data=data)
    state = await complaints.state(cid)
    assert state.stage is Stage.CLOSED and state.last_seq == 2 + ACTIONS + 5
    await assert_record_matches(pool, state)
    assert unfinished_handler_warnings(recwarn) == []


async def test_a_clock_set_before_continue_as_new_fires_after_it(
    complaints: ComplaintClient, server: Client, intake: Any, recwarn: pytest.WarningsRecorder
) -> None:
    """The 24-hour clock of a complaint due a minute from now fires in a later run than the one that set it."""
    due_in = timedelta(seconds=40)
    received_at = datetime.now(UTC) - timedelta(hours=24) + due_in
    started = await complaints.start(intake(received_at=received_at.isoformat()))
    cid = started.complaint_id
    workflow_id = complaints.handle(cid).id
    first_run = (await complaints.handle(cid).describe()).run_id

    n = 0
    while len(await run_ids(server, workflow_id)) < 3:
        assert datetime.now(UTC) < started.deadlines.first_response_due, "the hand-overs took longer than the clock"
        await in_flight(
            20, lambda i, n=n: complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": f"ghi chú {n + i}"})
        )
        n += 20
    handed_over_at = (await server.get_workflow_handle(workflow_id, run_id=first_run).describe()).close_time
    assert handed_over_at is not None

    deadline = time.monotonic() + due_in.total_seconds() + 90
    state = await complaints.state(cid)
    while not state.first_response_breached:
        assert time.monotonic() < deadline, "the 24-hour clock never fired after the hand-over"
        await asyncio.sleep(1)
        state = await complaints.state(cid)
    escalated = next(e for e in state.timeline if e.kind == "first_response_escalated")
    assert escalated.at >= started.deadlines.first_response_due
    assert escalated.at > handed_over_at
    assert (await complaints.handle(cid).describe()).run_id != first_run
    assert unfinished_handler_warnings(recwarn) == []
