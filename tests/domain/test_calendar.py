"""Working-day calendar: public holidays, make-up Saturdays, company overrides."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from domain.calendar import (
    BUSINESS_TZ,
    CalendarFileError,
    WorkingCalendar,
    load_calendar,
)
from starter.settings import Settings

PLAIN = WorkingCalendar()

OVERRIDE_TOML = """\
extra_days_off = [2026-01-02]       # a bridge day the company gives off
extra_working_days = [2026-01-10]   # the Saturday worked to make it up
"""


def test_business_tz_is_ho_chi_minh() -> None:
    assert str(BUSINESS_TZ) == "Asia/Ho_Chi_Minh"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 2), True),  # plain Monday
        (date(2026, 3, 7), False),  # plain Saturday
        (date(2026, 3, 8), False),  # plain Sunday
        (date(2026, 1, 1), False),  # New Year's Day
        (date(2026, 2, 13), True),  # Friday before Tết 2026
        (date(2026, 2, 16), False),  # Tết 2026 ...
        (date(2026, 2, 17), False),
        (date(2026, 2, 18), False),
        (date(2026, 2, 19), False),
        (date(2026, 2, 20), False),  # ... to Friday
        (date(2026, 2, 23), True),  # back to work
        (date(2026, 4, 27), False),  # Hùng Kings 2026 (Sun 26 Apr) observed on Monday
        (date(2026, 4, 30), False),  # Reunification Day
        (date(2026, 5, 1), False),  # Labour Day
        (date(2026, 8, 22), True),  # make-up Saturday for the National Day swap
        (date(2026, 8, 29), False),  # the Saturday after is an ordinary weekend day
        (date(2026, 8, 31), False),  # the day off swapped from 22 Aug
        (date(2026, 9, 1), False),  # National Day
        (date(2026, 9, 2), False),
        (date(2026, 9, 3), True),
        (date(2027, 2, 4), False),  # Tết 2027: Thu 4 ...
        (date(2027, 2, 5), False),
        (date(2027, 2, 8), False),
        (date(2027, 2, 9), False),
        (date(2027, 2, 10), False),  # ... to Wed 10 Feb
        (date(2027, 2, 11), True),
    ],
)
def test_is_working_day_public_calendar(day: date, working: bool) -> None:
    assert PLAIN.is_working_day(day) is working


def test_is_working_day_rejects_datetime() -> None:
    with pytest.raises(TypeError):
        PLAIN.is_working_day(datetime(2026, 3, 2, 9, 0, tzinfo=BUSINESS_TZ))


def test_overrides_win_over_public_calendar() -> None:
    cal = WorkingCalendar(
        extra_days_off=frozenset({date(2026, 3, 2)}),
        extra_working_days=frozenset({date(2026, 3, 7), date(2026, 1, 1)}),
    )
    assert not cal.is_working_day(date(2026, 3, 2))  # a Monday given off
    assert cal.is_working_day(date(2026, 3, 7))  # a Saturday worked
    assert cal.is_working_day(date(2026, 1, 1))  # even a public holiday can be worked


def test_override_in_both_sets_rejected() -> None:
    with pytest.raises(ValueError, match="2026-03-02"):
        WorkingCalendar(
            extra_days_off=frozenset({date(2026, 3, 2)}),
            extra_working_days=frozenset({date(2026, 3, 2)}),
        )


def test_working_day_after_skips_weekend_and_does_not_count_start() -> None:
    assert PLAIN.working_day_after(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Fri -> Mon
    assert PLAIN.working_day_after(date(2026, 3, 7), 1) == date(2026, 3, 9)  # Sat -> Mon
    assert PLAIN.working_day_after(date(2026, 3, 2), 1) == date(2026, 3, 3)


def test_working_day_after_across_tet_2026() -> None:
    assert PLAIN.working_day_after(date(2026, 2, 13), 1) == date(2026, 2, 23)


def test_working_day_after_uses_make_up_saturday() -> None:
    assert PLAIN.working_day_after(date(2026, 8, 21), 1) == date(2026, 8, 22)
    assert PLAIN.working_day_after(date(2026, 8, 28), 1) == date(2026, 9, 3)


def test_working_day_before() -> None:
    assert PLAIN.working_day_before(date(2026, 3, 30), 3) == date(2026, 3, 25)
    assert PLAIN.working_day_before(date(2026, 2, 23), 1) == date(2026, 2, 13)  # back over Tết
    assert PLAIN.working_day_before(date(2026, 8, 24), 1) == date(2026, 8, 22)


@pytest.mark.parametrize("n", [0, -1])
def test_working_day_steps_need_positive_n(n: int) -> None:
    with pytest.raises(ValueError):
        PLAIN.working_day_after(date(2026, 3, 2), n)
    with pytest.raises(ValueError):
        PLAIN.working_day_before(date(2026, 3, 2), n)


def test_load_calendar_from_path(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(OVERRIDE_TOML, encoding="utf-8")
    cal = load_calendar(path)
    assert cal == WorkingCalendar(
        extra_days_off=frozenset({date(2026, 1, 2)}),
        extra_working_days=frozenset({date(2026, 1, 10)}),
    )
    assert load_calendar(str(path)) == cal


def test_load_calendar_without_file_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTS_CALENDAR_FILE", raising=False)
    assert load_calendar() == PLAIN
    assert Settings().calendar() == PLAIN


def test_the_settings_name_the_calendar_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The domain reads no environment: `COMPLAINTS_CALENDAR_FILE` is the settings' to read."""
    path = tmp_path / "from-env.toml"
    path.write_text(OVERRIDE_TOML, encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_CALENDAR_FILE", str(path))
    assert load_calendar() == PLAIN
    cal = Settings().calendar()
    assert cal.extra_days_off == frozenset({date(2026, 1, 2)})
    assert cal.extra_working_days == frozenset({date(2026, 1, 10)})


def test_env_naming_missing_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("COMPLAINTS_CALENDAR_FILE", str(missing))
    with pytest.raises(CalendarFileError, match=r"nope\.toml"):
        Settings().calendar()


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('extra_days_off = "2026-01-02"\n', "extra_days_off"),
        ("extra_days_off = 2026-01-02\n", "extra_days_off"),
        ('extra_working_days = ["2026-01-10"]\n', "extra_working_days"),
        ("extra_working_days = [2026-01-10T08:00:00]\n", "extra_working_days"),
        ("extra_days_off = [2026-01-02T00:00:00+07:00]\n", "extra_days_off"),
        ("extra_days_off = [08:00:00]\n", "extra_days_off"),
        ("extra_holidays = [2026-01-02]\n", "extra_holidays"),
        ("[extra_days_off]\nfirst = 2026-01-02\n", "extra_days_off"),
    ],
)
def test_bad_calendar_file_names_file_and_key(tmp_path: Path, content: str, key: str) -> None:
    path = tmp_path / "bad-calendar.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarFileError) as info:
        load_calendar(path)
    message = str(info.value)
    assert "bad-calendar.toml" in message
    assert key in message


def test_date_in_both_lists_rejected_at_load(tmp_path: Path) -> None:
    path = tmp_path / "both.toml"
    path.write_text(
        "extra_days_off = [2026-01-02]\nextra_working_days = [2026-01-02]\n",
        encoding="utf-8",
    )
    with pytest.raises(CalendarFileError, match="2026-01-02") as info:
        load_calendar(path)
    assert "both.toml" in str(info.value)


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("extra_days_off = [\n", encoding="utf-8")
    with pytest.raises(CalendarFileError, match=r"broken\.toml"):
        load_calendar(path)


def test_missing_file_is_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError, match=r"absent\.toml"):
        load_calendar(tmp_path / "absent.toml")


def test_calendar_file_error_is_value_error() -> None:
    assert issubclass(CalendarFileError, ValueError)
