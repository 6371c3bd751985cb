"""The read side of the record: what the web form, the command line and reports read from PostgreSQL.

Read-only, and it needs nothing but a pool: no calendar, no settings, no Temporal. The snapshot table
(`complaints`) answers lists and the inbox; `complaint_events`, `documents`, `outbox` and `record_refusals`
answer a complaint's page and the admins' list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from domain.lifecycle import OPEN_STAGES
from domain.models import ComplaintState, ComplaintSummary, Stage, TimelineEvent

_SUMMARY_COLUMNS = """
complaint_id, case_number, stage, department, channel, subject, cycle, received_at, first_response_due,
resolution_due, resolution_due_date, first_response_breached, resolution_breached, escalation_level, updated_at
"""

SELECT_EVENTS = (
    "SELECT seq, at, kind, actor, role, door, cycle, summary, data FROM complaint_events WHERE complaint_id = $1"
)
"""A complaint's events (`$1`); the record's write side reads its latest event with the same columns."""

_UNREAD_SQL = (
    "(c.customer_wrote_seq IS NOT NULL AND c.customer_wrote_seq > coalesce("
    "(SELECT s.seen_seq FROM customer_mail_seen s WHERE s.complaint_id = c.complaint_id), 0))"
)
"""The customer wrote since staff last looked. A subquery, not a join: the page evaluates it for its own rows only,
and a filter or count walks only the complaints a customer ever wrote to (their partial index)."""

_OPEN_SQL = ", ".join(f"'{stage.value}'" for stage in sorted(OPEN_STAGES))
"""A literal list (stage names are our own constants), so the planner can match the inbox's partial index on it."""


def page_count(total: int, page_size: int) -> int:
    """Pages needed for `total` rows, at least one (an empty list is one empty page)."""
    return max(1, -(-total // page_size))


@dataclass(frozen=True)
class TimelinePage:
    """One page of a complaint's timeline, newest first, and how many events the whole timeline holds."""

    events: list[TimelineEvent]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)


@dataclass(frozen=True)
class InboxRow:
    """One complaint as the inbox lists it: the snapshot's columns and the customer's name."""

    complaint_id: str
    case_number: str
    subject: str
    customer_name: str
    stage: str
    department: str
    channel: str
    received_at: datetime
    first_response_due: datetime
    first_responded_at: datetime | None
    resolution_due: datetime
    resolution_due_date: date
    first_response_breached: bool
    resolution_breached: bool
    escalation_level: int
    unread: bool = False
    """The customer wrote since staff last opened the complaint (`web.customer_mail`)."""

    @property
    def open(self) -> bool:
        return self.stage in {s.value for s in OPEN_STAGES}


@dataclass(frozen=True)
class InboxRows:
    """One page of inbox rows, how many match in all, every department on record (for the filter), and how many
    complaints have unread customer mail (whatever the filter)."""

    rows: list[InboxRow]
    total: int
    departments: list[str]
    unread: int = 0


class _Where:
    """A WHERE clause and its arguments, built together so each `$n` placeholder numbers its own value."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ComplaintQueries:
    """Reads of the record for lists, the command line, the inbox and a complaint's page."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _rows(self, query: str, *args: Any) -> list[dict[str, Any]]:
        """The rows of one query as plain dicts, for pages and the command line to render as they are."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return [dict(row) for row in rows]

    async def list_complaints(
        self,
        stage: Stage | None = None,
        overdue: bool = False,
        department: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        now: datetime | None = None,
    ) -> list[ComplaintSummary]:
        """Complaints by urgency (earliest resolution due first).

        `overdue`: still open (not closed, merged or withdrawn) and either marked breached, or past a due
        instant before the timer said so: the resolution due, or the first-response due with no first response.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        where = _Where()
        arg = where.arg
        if stage is not None:
            where.conditions.append(f"stage = {arg(Stage(stage).value)}")
        if department is not None:
            where.conditions.append(f"department = {arg(department.strip().lower())}")
        if overdue:
            moment = arg(now or datetime.now(UTC))
            where.conditions.append(
                f"stage = ANY({arg(sorted(s.value for s in OPEN_STAGES))}::text[]) AND ("
                "first_response_breached OR resolution_breached"
                f" OR resolution_due <= {moment}"
                f" OR (first_responded_at IS NULL AND first_response_due <= {moment}))"
            )
        query = (
            f"SELECT {_SUMMARY_COLUMNS} FROM complaints {where.sql} "
            f"ORDER BY resolution_due, case_number LIMIT {arg(limit)} OFFSET {arg(offset)}"
        )
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *where.args)
        return [ComplaintSummary.model_validate(dict(row)) for row in rows]

    async def get_snapshot(self, complaint_id: str) -> ComplaintState | None:
        """The complaint as of its latest recorded transition."""
        async with self._pool.acquire() as conn:
            state = await conn.fetchval("SELECT state FROM complaints WHERE complaint_id = $1", complaint_id)
        return None if state is None else ComplaintState.model_validate(state)

    async def find_by_case_number(self, case_number: str) -> str | None:
        """The complaint id behind a case number a customer quotes."""
        async with self._pool.acquire() as conn:
            found: str | None = await conn.fetchval(
                "SELECT complaint_id FROM complaints WHERE case_number = $1", case_number.strip().upper()
            )
        return found

    async def timeline(self, complaint_id: str) -> list[TimelineEvent]:
        """The recorded history, oldest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SELECT_EVENTS + " ORDER BY seq", complaint_id)
        return [TimelineEvent.model_validate(dict(row)) for row in rows]

    async def timeline_page(self, complaint_id: str, page: int, page_size: int) -> TimelinePage:
        """One page of the recorded history, newest first: a complaint with 10,000 notes still reads and renders
        a few dozen rows (the primary key walks backwards from the newest)."""
        async with self._pool.acquire() as conn:
            total = await conn.fetchval("SELECT count(*) FROM complaint_events WHERE complaint_id = $1", complaint_id)
            rows = await conn.fetch(
                SELECT_EVENTS + " ORDER BY seq DESC LIMIT $2 OFFSET $3",
                complaint_id,
                page_size,
                (page - 1) * page_size,
            )
        return TimelinePage(
            events=[TimelineEvent.model_validate(dict(row)) for row in rows],
            total=total,
            page=page,
            page_size=page_size,
        )

    async def documents(self, complaint_id: str) -> list[dict[str, Any]]:
        """Filed documents with their rendered HTML, in the order they were written."""
        return await self._rows(
            "SELECT complaint_id, kind, cycle, event_seq, title, body, created_at FROM documents "
            "WHERE complaint_id = $1 ORDER BY event_seq, kind",
            complaint_id,
        )

    async def record_refusals(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest writes PostgreSQL refused for good, newest first: what admins look into."""
        return await self._rows(
            "SELECT r.refused_at, r.complaint_id, c.case_number, r.seq, r.kind, r.error, r.sqlstate "
            "FROM record_refusals r LEFT JOIN complaints c USING (complaint_id) "
            "ORDER BY r.refused_at DESC, r.id DESC LIMIT $1",
            limit,
        )

    async def outbox(self, complaint_id: str) -> list[dict[str, Any]]:
        """Messages queued for the complaint and whether they went out."""
        return await self._rows(
            "SELECT id, complaint_id, event_seq, recipient, department, template, medium, address, subject, "
            "body, created_at, sent_at, delivered_via, attempts, last_error FROM outbox "
            "WHERE complaint_id = $1 ORDER BY id",
            complaint_id,
        )

    async def inbox(
        self,
        *,
        search: str = "",
        open_only: bool = False,
        stage: Stage | None = None,
        department: str = "",
        channel: str = "",
        unread_only: bool = False,
        limit: int,
        offset: int = 0,
    ) -> InboxRows:
        """The inbox's rows, most urgent first: `search` matches a case number's start, or the subject, the
        customer's name, phone or e-mail anywhere. Open complaints walk a partial index and stop after a page.
        `unread_only`: complaints whose customer wrote since staff last opened them (a partial index holds the
        complaints a customer ever wrote to)."""
        where = _Where()
        arg = where.arg
        if unread_only:
            where.conditions.append(_UNREAD_SQL)
        if open_only:
            where.conditions.append(f"stage IN ({_OPEN_SQL})")
        elif stage is not None:
            where.conditions.append(f"stage = {arg(Stage(stage).value)}")
        if department:
            where.conditions.append(f"department = {arg(department)}")
        if channel:
            where.conditions.append(f"channel = {arg(channel)}")
        if search:
            prefix = arg(_escape_like(search.upper()) + "%")
            anywhere = arg("%" + _escape_like(search) + "%")
            where.conditions.append(
                f"(case_number LIKE {prefix} OR subject ILIKE {anywhere} OR customer->>'name' ILIKE {anywhere}"
                f" OR customer->>'phone' LIKE {anywhere} OR customer->>'email' ILIKE {anywhere})"
            )
        counts = (
            f"SELECT (SELECT count(*) FROM complaints c {where.sql}) AS total,"
            f" (SELECT count(*) FROM complaints c WHERE {_UNREAD_SQL}) AS unread",
            *where.args,
        )
        query = (
            "SELECT complaint_id, case_number, subject, coalesce(customer->>'name', '') AS customer_name, stage,"
            " department, channel, received_at, first_response_due, first_responded_at, resolution_due,"
            " resolution_due_date, first_response_breached, resolution_breached, escalation_level,"
            f" {_UNREAD_SQL} AS unread"
            f" FROM complaints c {where.sql} ORDER BY resolution_due, case_number"
            f" LIMIT {arg(limit)} OFFSET {arg(offset)}"
        )
        async with self._pool.acquire() as conn:
            counted = await conn.fetchrow(*counts)
            assert counted is not None, "a query of two counts answers one row"
            total, unread = counted["total"], counted["unread"]
            rows = await conn.fetch(query, *where.args)
            departments = [
                row["department"] for row in await conn.fetch("SELECT DISTINCT department FROM complaints ORDER BY 1")
            ]
        return InboxRows(
            rows=[InboxRow(**dict(row)) for row in rows], total=total, departments=departments, unread=unread
        )
