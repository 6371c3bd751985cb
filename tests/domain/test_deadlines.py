"""Deadline arithmetic against the hand-checked scenarios in shared/scenarios/deadlines.md."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from domain.calendar import BUSINESS_TZ, WorkingCalendar, load_calendar
from domain.deadlines import (
    FIRST_RESPONSE_HOURS,
    RESOLUTION_WORKING_DAYS,
    WARNING_LOCAL_TIME,
    WARNING_WORKING_DAYS_BEFORE,
    Deadlines,
    compute_deadlines,
)
from starter.settings import Settings

PLAIN = WorkingCalendar()

# (received_at, local date of receipt, resolution due date): one row per scenario line,
# plus a 00:30-local receipt that is still the previous day in UTC.
SCENARIOS = [
    pytest.param("2026-02-13T17:00:00+07:00", date(2026, 2, 13), date(2026, 3, 20), id="tet-2026"),
    pytest.param(
        "2026-04-23T09:00:00+07:00",
        date(2026, 4, 23),
        date(2026, 5, 26),
        id="hung-kings-30-4-1-5",
    ),
    pytest.param(
        "2026-08-21T09:00:00+07:00",
        date(2026, 8, 21),
        date(2026, 9, 22),
        id="national-day-2026-make-up-saturday",
    ),
    pytest.param("2027-02-03T09:00:00+07:00", date(2027, 2, 3), date(2027, 3, 10), id="tet-2027"),
    pytest.param(
        "2025-12-31T09:00:00+07:00",
        date(2025, 12, 31),
        date(2026, 1, 29),
        id="new-year",
    ),
    pytest.param(
        "2026-06-30T18:00:00+00:00",
        date(2026, 7, 1),
        date(2026, 7, 29),
        id="utc-evening-is-next-local-day",
    ),
    pytest.param(
        "2026-06-30T16:00:00+00:00",
        date(2026, 6, 30),
        date(2026, 7, 28),
        id="23h-local-same-day",
    ),
    pytest.param(
        "2026-03-02T08:00:00+07:00",
        date(2026, 3, 2),
        date(2026, 3, 30),
        id="plain-month",
    ),
    pytest.param(
        "2026-03-03T00:30:00+07:00",
        date(2026, 3, 3),
        date(2026, 3, 31),
        id="00h30-local-still-previous-utc-day",
    ),
]


def test_constants() -> None:
    assert FIRST_RESPONSE_HOURS == 24
    assert RESOLUTION_WORKING_DAYS == 20
    assert WARNING_WORKING_DAYS_BEFORE == 3
    assert WARNING_LOCAL_TIME.hour == 8 and WARNING_LOCAL_TIME.minute == 0


@pytest.mark.parametrize(("received", "local_receipt", "due_date"), SCENARIOS)
def test_resolution_due_date_scenarios(received: str, local_receipt: date, due_date: date) -> None:
    received_at = datetime.fromisoformat(received)
    assert received_at.astimezone(BUSINESS_TZ).date() == local_receipt
    deadlines = compute_deadlines(received_at, PLAIN)
    assert deadlines.resolution_due_date == due_date
    # End of the due day, 24:00 local = 17:00 UTC on the due date.
    assert deadlines.resolution_due == datetime.combine(due_date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=17)
    assert deadlines.first_response_due - deadlines.received_at == timedelta(hours=24)
    assert deadlines.received_at == received_at


@pytest.mark.parametrize(("received", "local_receipt", "due_date"), SCENARIOS)
def test_all_instants_are_utc(received: str, local_receipt: date, due_date: date) -> None:
    deadlines = compute_deadlines(datetime.fromisoformat(received), PLAIN)
    for value in (
        deadlines.received_at,
        deadlines.first_response_due,
        deadlines.resolution_due,
        deadlines.resolution_warning_at,
    ):
        assert value.utcoffset() == timedelta(0)


def test_receipt_at_half_past_midnight_local_counts_from_local_day() -> None:
    received_at = datetime.fromisoformat("2026-03-03T00:30:00+07:00")
    deadlines = compute_deadlines(received_at, PLAIN)
    assert deadlines.received_at == datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    assert deadlines.received_at.date() == date(2026, 3, 2)  # the previous day in UTC
    # Counted from Tue 3 Mar: 4-6, 9-13, 16-20, 23-27, 30, 31 Mar -> 20th is Tue 31 Mar.
    assert deadlines.resolution_due_date == date(2026, 3, 31)


def test_first_response_during_tet_is_24_clock_hours() -> None:
    deadlines = compute_deadlines(datetime.fromisoformat("2026-02-13T17:00:00+07:00"), PLAIN)
    assert deadlines.first_response_due == datetime.fromisoformat("2026-02-14T17:00:00+07:00")
    assert deadlines.first_response_due == datetime(2026, 2, 14, 10, 0, tzinfo=UTC)


def test_warning_and_due_instant_by_hand() -> None:
    # Received Mon 2 Mar 2026, due Mon 30 Mar 2026. Working days before the due date:
    # Fri 27 (1st), Thu 26 (2nd), Wed 25 (3rd) -> warning at 08:00 local on Wed 25 Mar,
    # i.e. 01:00 UTC. Due at 24:00 local Mon 30 Mar = 00:00 Tue 31 Mar +07:00 = 17:00 UTC 30 Mar.
    deadlines = compute_deadlines(datetime.fromisoformat("2026-03-02T08:00:00+07:00"), PLAIN)
    assert deadlines == Deadlines(
        received_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
        first_response_due=datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
        resolution_due_date=date(2026, 3, 30),
        resolution_due=datetime(2026, 3, 30, 17, 0, tzinfo=UTC),
        resolution_warning_at=datetime(2026, 3, 25, 1, 0, tzinfo=UTC),
    )
    assert deadlines.resolution_warning_at == datetime.fromisoformat("2026-03-25T08:00:00+07:00")
    assert deadlines.resolution_due == datetime.fromisoformat("2026-03-31T00:00:00+07:00")


def test_warning_skips_holidays_backwards() -> None:
    # Due Tue 26 May 2026: Mon 25 (1st), Fri 22 (2nd), Thu 21 (3rd).
    deadlines = compute_deadlines(datetime.fromisoformat("2026-04-23T09:00:00+07:00"), PLAIN)
    assert deadlines.resolution_warning_at == datetime.fromisoformat("2026-05-21T08:00:00+07:00")


def test_company_override_file(tmp_path: Path) -> None:
    path = tmp_path / "company-calendar.toml"
    path.write_text(
        "extra_days_off = [2026-01-02]       # a bridge day the company gives off\n"
        "extra_working_days = [2026-01-10]   # the Saturday worked to make it up\n",
        encoding="utf-8",
    )
    received_at = datetime.fromisoformat("2026-01-07T09:00:00+07:00")  # Wed 7 Jan 2026
    with_file = compute_deadlines(received_at, load_calendar(path))
    without_file = compute_deadlines(received_at, PLAIN)
    assert with_file.resolution_due_date == date(2026, 2, 3)  # Tue 3 Feb 2026
    assert without_file.resolution_due_date == date(2026, 2, 4)  # Wed 4 Feb 2026


def test_company_override_file_via_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env-calendar.toml"
    path.write_text("extra_working_days = [2026-01-10]\n", encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_CALENDAR_FILE", str(path))
    received_at = datetime.fromisoformat("2026-01-07T09:00:00+07:00")
    assert compute_deadlines(received_at, Settings().calendar()).resolution_due_date == date(2026, 2, 3)


def test_naive_received_at_rejected() -> None:
    with pytest.raises(ValueError, match="received_at must be timezone-aware"):
        compute_deadlines(datetime(2026, 3, 2, 8, 0), PLAIN)


def test_deadlines_model_is_frozen_and_round_trips() -> None:
    deadlines = compute_deadlines(datetime.fromisoformat("2026-02-13T17:00:00+07:00"), PLAIN)
    with pytest.raises(ValueError):
        deadlines.resolution_due_date = date(2030, 1, 1)  # type: ignore[misc]
    assert Deadlines.model_validate_json(deadlines.model_dump_json()) == deadlines


def test_deadlines_model_normalises_to_utc() -> None:
    local = datetime.fromisoformat("2026-03-02T08:00:00+07:00")
    model = Deadlines(
        received_at=local,
        first_response_due=local,
        resolution_due_date=date(2026, 3, 30),
        resolution_due=local,
        resolution_warning_at=local,
    )
    assert model.received_at.tzinfo is UTC
    assert model.received_at == local
