"""The record's read side against a real PostgreSQL: lists by stage, department and urgency, and a complaint's reads."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from complaint_builders import RECEIVED, Complaints

from activities.queries import ComplaintQueries
from domain.actions import Action
from domain.lifecycle import ClockEvent
from domain.models import ComplaintSummary, Stage


def new_department() -> str:
    """A department of the test's own, so list filters see only its complaints in the shared module database."""
    return f"d{uuid.uuid4().hex[:10]}"


async def test_list_complaints_filters_by_stage_department_and_overdue(complaints: Complaints) -> None:
    queries = complaints.queries
    department = new_department()
    waiting = (await complaints.register(department=department)).state  # never answered
    working = await complaints.step((await complaints.register(department=department)).state, Action.ACKNOWLEDGE)
    settled = await complaints.step(
        (await complaints.register(department=department)).state,
        Action.RESOLVE_ON_FIRST_CONTACT,
        {"resolution": "Đã giải thích cước", "customer_agreed": True},
    )
    closed = await complaints.step(settled, Action.CLOSE, {"summary": "Xong", "lessons_learned": "Không"})
    breached = (await complaints.register(department=department)).state
    breached = await complaints.step(breached, Action.ACKNOWLEDGE)
    breached = await complaints.record(complaints.clock(breached, ClockEvent.RESOLUTION_BREACHED))

    def ids(summaries: list[ComplaintSummary]) -> set[str]:
        return {summary.complaint_id for summary in summaries}

    everything = await queries.list_complaints(department=department)
    assert ids(everything) == {waiting.complaint_id, working.complaint_id, closed.complaint_id, breached.complaint_id}
    assert ids(await queries.list_complaints(stage=Stage.ANALYSING, department=department)) == {
        working.complaint_id,
        breached.complaint_id,
    }
    assert ids(await queries.list_complaints(stage=Stage.CLOSED, department=department)) == {closed.complaint_id}
    assert await queries.list_complaints(stage=Stage.CLOSED, department=new_department()) == []

    soon = RECEIVED + timedelta(hours=2)
    assert ids(await queries.list_complaints(overdue=True, department=department, now=soon)) == {breached.complaint_id}
    next_day = RECEIVED + timedelta(hours=25)  # first response due passed; only the unanswered one is late
    assert ids(await queries.list_complaints(overdue=True, department=department, now=next_day)) == {
        waiting.complaint_id,
        breached.complaint_id,
    }
    after_due = waiting.deadlines.resolution_due + timedelta(minutes=1)
    assert ids(await queries.list_complaints(overdue=True, department=department, now=after_due)) == {
        waiting.complaint_id,
        working.complaint_id,
        breached.complaint_id,
    }

    [summary] = await queries.list_complaints(stage=Stage.CLOSED, department=department)
    assert summary.case_number == closed.case_number
    assert summary.resolution_due_date == date(2026, 3, 30)
    assert summary.channel.value == "phone" and summary.cycle == 1

    page = await queries.list_complaints(department=department, limit=2)
    rest = await queries.list_complaints(department=department, limit=2, offset=2)
    assert len(page) == 2 and len(rest) == 2 and ids(page) | ids(rest) == ids(everything)


async def test_reads_of_an_unknown_complaint_are_empty(queries: ComplaintQueries) -> None:
    assert await queries.get_snapshot("no-such-complaint") is None
    assert await queries.timeline("no-such-complaint") == []
    assert await queries.documents("no-such-complaint") == []
    assert await queries.outbox("no-such-complaint") == []
    assert await queries.find_by_case_number("KN-1999-000001") is None


async def test_find_by_case_number(complaints: Complaints) -> None:
    state = (await complaints.register()).state
    assert await complaints.queries.find_by_case_number(state.case_number.lower()) == state.complaint_id
