"""Deadline arithmetic for the complaint clocks (pure, no I/O).

Deadlines are computed once at receipt (and again on reopen) and then kept in
workflow state, so the values here are what the customer was promised; a later
calendar change must not move them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import AwareDatetime, BaseModel, field_validator

from domain.calendar import BUSINESS_TZ, WorkingCalendar

__all__ = [
    "EARLIEST_RECEIPT",
    "FIRST_RESPONSE_HOURS",
    "LATEST_RECEIPT",
    "RESOLUTION_WORKING_DAYS",
    "WARNING_LOCAL_TIME",
    "WARNING_WORKING_DAYS_BEFORE",
    "Deadlines",
    "check_receipt_in_calendar",
    "compute_deadlines",
]

FIRST_RESPONSE_HOURS = 24
"""Clock hours (not working hours) allowed before the first message to the customer."""

RESOLUTION_WORKING_DAYS = 20
"""Working days after the local date of receipt, receipt day not counted."""

WARNING_WORKING_DAYS_BEFORE = 3
"""The department head is warned this many working days before the due date."""

WARNING_LOCAL_TIME = time(8, 0)
"""Local wall-clock time of the warning: the start of the working morning."""

EARLIEST_RECEIPT = date(2000, 1, 1)
LATEST_RECEIPT = date(2098, 12, 31)
"""The local dates of receipt the clocks can handle. The `holidays` VN calendar knows the lunar holidays up to
2100 (none from 2101), and the latest due date, its warning and the reminders of a receipt on the last day fall in
early 2099; every instant stays far from `datetime`'s limits, so no date arithmetic can overflow."""


def check_receipt_in_calendar(received_at: datetime) -> None:
    """`ValueError` unless the local date of receipt lies between `EARLIEST_RECEIPT` and `LATEST_RECEIPT`.

    The value's own wall-clock date is checked first: converting year 1 or year 9999 to another zone is what
    overflows, so that must not happen before the instant is known to be sane."""
    _require_aware("received_at", received_at)
    problem = (
        f"received_at must be between {EARLIEST_RECEIPT.isoformat()} and {LATEST_RECEIPT.isoformat()} "
        "(the dates the working-day calendar knows)"
    )
    one_day = timedelta(days=1)
    if not EARLIEST_RECEIPT - one_day <= received_at.date() <= LATEST_RECEIPT + one_day:
        raise ValueError(problem)
    if not EARLIEST_RECEIPT <= received_at.astimezone(BUSINESS_TZ).date() <= LATEST_RECEIPT:
        raise ValueError(problem)


def _require_aware(name: str, value: datetime) -> None:
    # A naive datetime has no defined local date, so every clock derived from it would be a guess.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _local_instant(d: date, t: time) -> datetime:
    """The UTC instant of wall-clock ``t`` on local date ``d`` in the business zone."""
    return datetime.combine(d, t, tzinfo=BUSINESS_TZ).astimezone(UTC)


class Deadlines(BaseModel, frozen=True):
    """The clocks promised for one complaint cycle; all instants in UTC."""

    received_at: AwareDatetime
    first_response_due: AwareDatetime
    resolution_due_date: date
    """The local (Asia/Ho_Chi_Minh) date on which the resolution is due."""
    resolution_due: AwareDatetime
    """End of ``resolution_due_date`` (00:00 local of the next day)."""
    resolution_warning_at: AwareDatetime
    """08:00 local on the 3rd working day before ``resolution_due_date``."""

    @field_validator(
        "received_at",
        "first_response_due",
        "resolution_due",
        "resolution_warning_at",
    )
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        """Normalise to UTC so stored state and comparisons never depend on the writer's zone."""
        return value.astimezone(UTC)


def compute_deadlines(received_at: datetime, calendar: WorkingCalendar) -> Deadlines:
    """Compute every clock of a complaint cycle from its receipt instant.

    The resolution count starts from the *local* date of receipt: a complaint
    received at 00:30 in Ho Chi Minh City is received that day even though it
    is still the previous day in UTC. A receipt outside the calendar's range is a `ValueError`, never an overflow.
    """
    check_receipt_in_calendar(received_at)
    received_utc = received_at.astimezone(UTC)
    local_receipt_date = received_at.astimezone(BUSINESS_TZ).date()
    due_date = calendar.working_day_after(local_receipt_date, RESOLUTION_WORKING_DAYS)
    warning_date = calendar.working_day_before(due_date, WARNING_WORKING_DAYS_BEFORE)
    return Deadlines(
        received_at=received_utc,
        first_response_due=received_utc + timedelta(hours=FIRST_RESPONSE_HOURS),
        resolution_due_date=due_date,
        resolution_due=_local_instant(due_date + timedelta(days=1), time(0, 0)),
        resolution_warning_at=_local_instant(warning_date, WARNING_LOCAL_TIME),
    )
