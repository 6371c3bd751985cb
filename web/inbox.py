"""The inbox: complaints from the Postgres read model, searched, filtered and paged.

This module is the web side: which filters a link may ask for, and the page it shows. The query itself is
`ComplaintQueries.inbox` (its own, not `list_complaints`, because the inbox also searches case number, customer
and subject, filters by channel, counts for paging and shows whether the first response was given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from activities.queries import ComplaintQueries, InboxRow, page_count
from domain.fields import DEPARTMENT_CODE_PATTERN
from domain.intake import Channel
from domain.models import Stage
from web.query import QueryRefused, check_query, one_of, page_number, search_text

OPEN = "open"
ALL = "all"
STAGE_CHOICES = frozenset({OPEN, ALL} | {stage.value for stage in Stage})
CHANNEL_CHOICES = frozenset(channel.value for channel in Channel)
UNREAD_CHOICES = frozenset({"1"})


@dataclass(frozen=True)
class InboxFilter:
    q: str = ""
    stage: str = OPEN
    department: str = ""
    channel: str = ""
    unread: bool = False
    """Only complaints whose customer wrote since staff last opened them."""
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
        q = search_text(params)
        unread = one_of(params, "unread", UNREAD_CHOICES, "") == "1"
        return cls(q=q, stage=stage, department=department, channel=channel, unread=unread, page=page_number(params))

    def query_params(self, **changes: Any) -> dict[str, str]:
        values = {
            "q": self.q,
            "stage": self.stage,
            "department": self.department,
            "channel": self.channel,
            "unread": "1" if self.unread else "",
        }
        values.update({key: str(value) for key, value in changes.items()})
        return {key: value for key, value in values.items() if value and not (key == "stage" and value == OPEN)}


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    page_size: int
    departments: list[str]
    unread: int = 0
    """Complaints with unread customer mail, whatever the filter."""

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)


async def load_inbox(queries: ComplaintQueries, inbox: InboxFilter, page_size: int) -> InboxPage:
    """The page of the inbox a filter asks for, through the record's own inbox query."""
    found = await queries.inbox(
        search=inbox.q,
        open_only=inbox.stage == OPEN,
        stage=None if inbox.stage in (OPEN, ALL) else Stage(inbox.stage),
        department=inbox.department,
        channel=inbox.channel,
        unread_only=inbox.unread,
        limit=page_size,
        offset=(inbox.page - 1) * page_size,
    )
    return InboxPage(
        rows=found.rows,
        total=found.total,
        page=inbox.page,
        page_size=page_size,
        departments=found.departments,
        unread=found.unread,
    )
