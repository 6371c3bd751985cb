"""Figure 4: transitions recorded per second by the `record_transition` activity path, against raw asyncpg inserts
of the very same rows at the same concurrency.

The transitions are the domain's own (start_state, then apply_action over the lifecycle), sent without their
history as the workflow sends them. The activity runs first; the rows it wrote (events, outbox messages,
documents) are read back, and the raw path inserts exactly those, under other complaint ids, with one transaction
per transition and no ON CONFLICT guard: the floor of what Postgres needs to store a transition."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from activities.records import ComplaintRecords, cycle_clocks, report_columns, snapshot_row
from bench.throughput import STEPS
from domain.actions import ActionRequest
from domain.calendar import WorkingCalendar
from domain.intake import Channel, Customer, Intake
from domain.lifecycle import apply_action, start_state
from domain.models import ComplaintState, Transition, TransitionRecord

RECEIVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""A Monday morning in Ho Chi Minh City: the clocks are the usual 24 h and 20 working days."""
_case_numbers = itertools.count(1)

Row = tuple[Any, ...]


def lifecycle_transitions(calendar: WorkingCalendar) -> list[Transition]:
    """One complaint's transitions, receipt to close, each as `record_transition` receives it."""
    complaint_id = f"bench-rec-{uuid.uuid4().hex[:12]}"
    intake = Intake(
        customer=Customer(name="Lê Thị Thu", phone="0987654321", email="thu@example.vn", address="5 Hàng Bài, Hà Nội"),
        channel=Channel.EMAIL,
        subject="Cước tháng 10 bị tính hai lần",
        description="Hóa đơn tháng 10 có hai khoản phí giống hệt nhau.",
        service="Internet cáp quang",
        department="customer_care",
    )
    first = start_state(
        complaint_id,
        f"KN-2026-{800000 + next(_case_numbers):06d}",
        intake,
        cycle_clocks(RECEIVED, calendar),
        RECEIVED,
    )
    transitions = [first]
    state: ComplaintState = first.state
    for step, (action, (role, actor), data) in enumerate(STEPS):
        request = ActionRequest(request_id=f"{complaint_id}-{step}", actor=actor, role=role, data=data)
        transition = apply_action(state, action, request, state.timeline[-1].at + timedelta(hours=1))
        transitions.append(transition)
        state = transition.state
    return [t.model_copy(update={"state": t.state.without_history()}) for t in transitions]


async def _per_complaint(
    complaints: list[list[Any]], concurrency: int, write: Callable[[Any], Awaitable[None]]
) -> float:
    """Each complaint's writes in order (as its workflow makes them), `concurrency` complaints at a time;
    returns writes per second."""
    gate = asyncio.Semaphore(concurrency)

    async def one(items: list[Any]) -> None:
        async with gate:
            for item in items:
                await write(item)

    started = time.perf_counter()
    await asyncio.gather(*(one(items) for items in complaints))
    return sum(len(items) for items in complaints) / (time.perf_counter() - started)


async def _activity_path(records: ComplaintRecords, complaints: list[list[Transition]], concurrency: int) -> float:
    async def write(transition: Transition) -> None:
        await records.record_transition(
            TransitionRecord(workflow_id=f"complaint-{transition.state.complaint_id}", transition=transition)
        )

    return await _per_complaint(complaints, concurrency, write)


def _snapshot_row(transition: Transition, complaint_id: str) -> Row:
    """The activity's own row, under another complaint id and case number so both paths write side by side."""
    state = transition.state.without_history().model_copy(
        update={"complaint_id": complaint_id, "case_number": "R" + transition.state.case_number}
    )
    return (*snapshot_row(f"complaint-{complaint_id}", state, transition.event.seq), *report_columns(state))


RAW_SNAPSHOT = """
INSERT INTO complaints (complaint_id, case_number, workflow_id, stage, department, channel, subject, cycle,
    received_at, first_response_due, first_responded_at, resolution_due, resolution_due_date,
    first_response_breached, resolution_breached, escalation_level, last_seq, state, customer, cycle_working_days,
    cycle_resolved_at, receipt_date, first_response_hours, resolution_working_days)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
ON CONFLICT (complaint_id) DO UPDATE SET stage = $4, first_responded_at = $11, first_response_breached = $14,
    resolution_breached = $15, escalation_level = $16, last_seq = $17, state = $18, cycle_resolved_at = $21,
    first_response_hours = $23, resolution_working_days = $24
"""
"""The snapshot as the activity writes it (its report columns included). The raw path writes no stage clock and no
lessons register: since migration 0010 the record write keeps them itself, so this floor no longer pays for them."""
RAW_EVENT = """
INSERT INTO complaint_events (complaint_id, seq, at, kind, actor, role, door, cycle, summary, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""
RAW_OUTBOX = """
INSERT INTO outbox (complaint_id, event_seq, recipient, department, template, medium, address, subject, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
RAW_DOCUMENT = (
    "INSERT INTO documents (complaint_id, kind, cycle, event_seq, title, body) VALUES ($1, $2, $3, $4, $5, $6)"
)


async def _rows_written(
    pool: asyncpg.Pool, transitions: list[Transition]
) -> list[tuple[Row, Row, list[Row], list[Row]]]:
    """The rows the activity wrote for one complaint, per transition, renamed to a fresh complaint id."""
    original = transitions[0].state.complaint_id
    raw_id = f"bench-raw-{uuid.uuid4().hex[:12]}"
    outbox = await pool.fetch(
        "SELECT event_seq, recipient, department, template, medium, address, subject, body FROM outbox"
        " WHERE complaint_id = $1 ORDER BY id",
        original,
    )
    documents = await pool.fetch(
        "SELECT kind, cycle, event_seq, title, body FROM documents WHERE complaint_id = $1", original
    )
    rows = []
    for transition in transitions:
        event = transition.event
        seq = event.seq
        rows.append(
            (
                _snapshot_row(transition, raw_id),
                (
                    raw_id,
                    seq,
                    event.at,
                    event.kind,
                    event.actor,
                    event.role,
                    event.door,
                    event.cycle,
                    event.summary,
                    event.data,
                ),
                [(raw_id, *tuple(r)) for r in outbox if r["event_seq"] == seq],
                [(raw_id, *tuple(r)) for r in documents if r["event_seq"] == seq],
            )
        )
    return rows


async def _raw_path(
    pool: asyncpg.Pool, complaints: list[list[tuple[Row, Row, list[Row], list[Row]]]], concurrency: int
) -> float:
    async def write(rows: tuple[Row, Row, list[Row], list[Row]]) -> None:
        snapshot, event, outbox, documents = rows
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(RAW_SNAPSHOT, *snapshot)
            await conn.execute(RAW_EVENT, *event)
            for row in outbox:
                await conn.execute(RAW_OUTBOX, *row)
            for row in documents:
                await conn.execute(RAW_DOCUMENT, *row)

    return await _per_complaint(complaints, concurrency, write)


async def measure(
    records: ComplaintRecords,
    pool: asyncpg.Pool,
    calendar: WorkingCalendar,
    complaints: int,
    concurrency: int,
    rounds: int,
) -> tuple[list[float], list[float]]:
    """(activity path, raw inserts) in transitions per second, per round."""
    values: list[float] = []
    baselines: list[float] = []
    for round_ in range(rounds + 1):  # round 0 warms both paths (statement caches, the pool) and is dropped
        batch = [lifecycle_transitions(calendar) for _ in range(complaints if round_ else 3)]
        activity_rate = await _activity_path(records, batch, concurrency)
        raw_rows = [await _rows_written(pool, transitions) for transitions in batch]
        raw_rate = await _raw_path(pool, raw_rows, concurrency)
        if round_:
            values.append(activity_rate)
            baselines.append(raw_rate)
            print(f"  round {round_}: activity {activity_rate:.0f}/s, raw {raw_rate:.0f}/s", flush=True)
    return values, baselines
