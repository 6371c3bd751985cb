"""The inbox: complaints from the Postgres read model, searched, filtered and paged.

Its own query rather than `ComplaintRecords.list_complaints`, because the inbox also searches (case number,
customer, subject), filters by channel, counts for paging and shows whether the first response was given.
The default view (open complaints, most urgent first) walks a partial index and stops after one page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from domain.lifecycle import OPEN_STAGES
from domain.models import DEPARTMENT_CODE_PATTERN, Channel, Stage
from domain.text import TextRefused, short_text
from web.query import QueryRefused, check_query, one_of, page_number

OPEN = "open"
ALL = "all"
MAX_QUERY_CHARS = 100
STAGE_CHOICES = frozenset({OPEN, ALL} | {stage.value for stage in Stage})
CHANNEL_CHOICES = frozenset(channel.value for channel in Channel)

_OPEN_SQL = ", ".join(f"'{stage.value}'" for stage in sorted(OPEN_STAGES))
"""A literal list (stage names are our own constants), so the planner can match the partial index on it."""


@dataclass(frozen=True)
class InboxFilter:
    q: str = ""
    stage: str = OPEN
    department: str = ""
    channel: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> InboxFilter:
        """The filter a link asks for, or `QueryRefused` naming the parameter: a forged or garbled link is a
        400 the agent can read, never a query PostgreSQL refuses (a NUL) or a silently different view."""
        check_query(params)
        stage = one_of(params, "stage", STAGE_CHOICES, OPEN)
        channel = one_of(params, "channel", CHANNEL_CHOICES, "")
        department = params.get("department", "").strip().lower()
        if department and not DEPARTMENT_CODE_PATTERN.fullmatch(department):
            raise QueryRefused("department", "is not a department's name")
        try:
            q = " ".join(short_text(params.get("q", "")).split())
        except TextRefused as refused:
            raise QueryRefused("q", refused.problem) from None
        if len(q) > MAX_QUERY_CHARS:
            raise QueryRefused("q", f"must be at most {MAX_QUERY_CHARS} characters")
        return cls(q=q, stage=stage, department=department, channel=channel, page=page_number(params))

    def query_params(self, **changes: Any) -> dict[str, str]:
        values = {"q": self.q, "stage": self.stage, "department": self.department, "channel": self.channel}
        values.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in values.items() if value and not (key == "stage" and value == OPEN)}


@dataclass(frozen=True)
class InboxRow:
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

    @property
    def open(self) -> bool:
        return self.stage in {s.value for s in OPEN_STAGES}


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    page_size: int
    departments: list[str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(inbox: InboxFilter) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if inbox.stage == OPEN:
        conditions.append(f"stage IN ({_OPEN_SQL})")
    elif inbox.stage != ALL:
        conditions.append(f"stage = {arg(inbox.stage)}")
    if inbox.department:
        conditions.append(f"department = {arg(inbox.department)}")
    if inbox.channel:
        conditions.append(f"channel = {arg(inbox.channel)}")
    if inbox.q:
        prefix = arg(_escape_like(inbox.q.upper()) + "%")
        anywhere = arg("%" + _escape_like(inbox.q) + "%")
        conditions.append(
            f"(case_number LIKE {prefix} OR subject ILIKE {anywhere} OR customer->>'name' ILIKE {anywhere}"
            f" OR customer->>'phone' LIKE {anywhere} OR customer->>'email' ILIKE {anywhere})"
        )
    return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), args


async def load_inbox(pool: asyncpg.Pool, inbox: InboxFilter, page_size: int) -> InboxPage:
    where, args = _where(inbox)
    limit, offset = f"${len(args) + 1}", f"${len(args) + 2}"
    async with pool.acquire() as conn:
        total = await conn.fetchval(f"SELECT count(*) FROM complaints {where}", *args)
        rows = await conn.fetch(
            "SELECT complaint_id, case_number, subject, coalesce(customer->>'name', '') AS customer_name, stage,"
            " department, channel, received_at, first_response_due, first_responded_at, resolution_due,"
            " resolution_due_date, first_response_breached, resolution_breached, escalation_level"
            f" FROM complaints {where} ORDER BY resolution_due, case_number LIMIT {limit} OFFSET {offset}",
            *args,
            page_size,
            (inbox.page - 1) * page_size,
        )
        departments = [
            row["department"] for row in await conn.fetch("SELECT DISTINCT department FROM complaints ORDER BY 1")
        ]
    return InboxPage(
        rows=[InboxRow(**dict(row)) for row in rows],
        total=total,
        page=inbox.page,
        page_size=page_size,
        departments=departments,
    )
