"""The managers' reports over a known population, recorded through the real write path, every figure checked.

Nine complaints with hand-picked clocks (times are Ho Chi Minh City's; `NOW` is Friday 3 April 2026, 10:00):

c1  billing  email   2 Mar: answered in 2 h, cause (company at fault), plan approved, answered 9 Mar, closed
c2  network  phone   3 Mar: first response missed (30 h, escalated), customer asked, plan rejected once,
                     answered after its due date (breached), closed
c3  billing  email   4 Mar: settled on the spot, closed, reopened 20 Mar (cycle 2), acknowledged, open
c4  network  email   5 Mar: information requested at once, waiting on the customer, past its due date
c5  network  email   5 Mar: merged into c4
c6  billing  phone   6 Mar: acknowledged, withdrawn
c7  billing  phone   1 Apr: nobody answered: its first response is past due
c8  billing  email  26 Feb: outside the period, open and overdue (work in progress ignores the period)
c9  network  letter  9 Mar: acknowledged, due Monday 6 April: due in the next three working days

The expected figures are worked out by hand below (hours, working days), and checked against the complaints' own
recorded working days.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from complaint_builders import SETTINGS, Complaints

from activities.database import create_pool
from activities.migrations import migrate, migration_files
from activities.queries import ComplaintQueries
from activities.records import ComplaintRecords
from activities.reports import ComplaintReports, ReportFilter
from domain.actions import Action, Role
from domain.calendar import BUSINESS_TZ, WorkingCalendar
from domain.intake import Channel
from domain.lifecycle import ClockEvent, working_days_between
from domain.models import ComplaintState, Stage

NOW = datetime(2026, 4, 3, 10, 0, tzinfo=BUSINESS_TZ)
PERIOD = ReportFilter(date(2026, 3, 1), date(2026, 4, 30))
CAUSE = "Lỗi tính cước tự động"


def local(day: int, month: int, hour: float) -> datetime:
    return datetime(2026, month, day, tzinfo=BUSINESS_TZ) + timedelta(hours=hour)


@dataclass
class Population:
    states: dict[str, ComplaintState]

    def id(self, name: str) -> str:
        return self.states[name].complaint_id


async def build(complaints: Complaints) -> Population:
    async def register(received: datetime, department: str, channel: Channel) -> ComplaintState:
        return (await complaints.register(received_at=received, department=department, channel=channel)).state

    async def at(
        state: ComplaintState, when: datetime, action: Action, data: dict[str, Any] | None = None, **kw: Any
    ) -> ComplaintState:
        return await complaints.step(state, action, data, after=when - state.timeline[-1].at, **kw)

    async def clock(state: ComplaintState, event: ClockEvent, when: datetime) -> ComplaintState:
        return await complaints.record(complaints.clock(state, event, when))

    plan = {"plan": "Hoàn cước tháng 2"}
    states: dict[str, ComplaintState] = {}

    c1 = await register(local(2, 3, 9), "billing", Channel.EMAIL)
    c1 = await at(c1, local(2, 3, 11), Action.ACKNOWLEDGE)
    c1 = await at(
        c1, local(3, 3, 9), Action.CAUSE_IDENTIFIED, {"cause": CAUSE, "company_at_fault": True, "departments": []}
    )
    c1 = await at(c1, local(3, 3, 10), Action.PROPOSE_PLAN, plan)
    c1 = await at(c1, local(3, 3, 15), Action.MANAGER_APPROVAL, {"approved": True}, role=Role.MANAGER)
    c1 = await at(c1, local(9, 3, 10), Action.SEND_RESOLUTION, {"reply": "Đã hoàn cước."})
    states["c1"] = await at(
        c1, local(10, 3, 9), Action.CLOSE, {"summary": "Đã hoàn cước", "lessons_learned": "Kiểm tra bảng cước trước"}
    )

    c2 = await register(local(3, 3, 9), "network", Channel.PHONE)
    c2 = await clock(c2, ClockEvent.FIRST_RESPONSE_ESCALATED, local(4, 3, 9))
    c2 = await at(c2, local(4, 3, 15), Action.ACKNOWLEDGE)
    c2 = await at(c2, local(4, 3, 16), Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin ảnh lỗi"})
    c2 = await at(c2, local(6, 3, 10), Action.CUSTOMER_INFO_RECEIVED, {"summary": "Đã nhận ảnh"})
    c2 = await at(
        c2,
        local(6, 3, 14),
        Action.CAUSE_IDENTIFIED,
        {"cause": "lỗi tính cước tự động", "company_at_fault": False, "departments": []},
    )
    c2 = await at(c2, local(6, 3, 15), Action.PROPOSE_PLAN, plan)
    c2 = await at(
        c2, local(9, 3, 9), Action.MANAGER_APPROVAL, {"approved": False, "comment": "Thiếu"}, role=Role.MANAGER
    )
    c2 = await at(c2, local(9, 3, 10), Action.PROPOSE_PLAN, plan)
    c2 = await at(c2, local(9, 3, 11), Action.MANAGER_APPROVAL, {"approved": True}, role=Role.MANAGER)
    assert c2.deadlines.resolution_due_date == date(2026, 3, 31)
    c2 = await clock(c2, ClockEvent.RESOLUTION_BREACHED, c2.deadlines.resolution_due)
    c2 = await at(c2, local(1, 4, 10), Action.SEND_RESOLUTION, {"reply": "Đã hướng dẫn."})
    states["c2"] = await at(
        c2, local(2, 4, 9), Action.CLOSE, {"summary": "Xong", "lessons_learned": "Hướng dẫn khách kiểm tra cấu hình"}
    )

    c3 = await register(local(4, 3, 9), "billing", Channel.EMAIL)
    c3 = await at(
        c3, local(4, 3, 10), Action.RESOLVE_ON_FIRST_CONTACT, {"resolution": "Giải thích", "customer_agreed": True}
    )
    c3 = await at(c3, local(4, 3, 11), Action.CLOSE, {"summary": "Xong", "lessons_learned": "Giải thích rõ cước"})
    reopened = local(20, 3, 9)
    clocks = await complaints.records.compute_cycle_clocks(reopened)
    c3 = await at(c3, reopened, Action.REOPEN, {"reason": "Khách không đồng ý"}, new_cycle=clocks)
    states["c3"] = await at(c3, local(20, 3, 12), Action.ACKNOWLEDGE)

    c4 = await register(local(5, 3, 9), "network", Channel.EMAIL)
    states["c4"] = await at(
        c4, local(5, 3, 10), Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin hợp đồng"}
    )
    assert states["c4"].deadlines.resolution_due_date == date(2026, 4, 2)

    c5 = await register(local(5, 3, 10), "network", Channel.EMAIL)
    states["c5"] = await at(c5, local(5, 3, 11), Action.MERGE_INTO, {"primary_complaint_id": c4.complaint_id})

    c6 = await register(local(6, 3, 9), "billing", Channel.PHONE)
    c6 = await at(c6, local(6, 3, 9.5), Action.ACKNOWLEDGE)
    states["c6"] = await at(c6, local(6, 3, 12), Action.WITHDRAW, {"reason": "Khách tự xử lý"})

    states["c7"] = await register(local(1, 4, 9), "billing", Channel.PHONE)

    c8 = await register(local(26, 2, 9), "billing", Channel.EMAIL)
    states["c8"] = await at(c8, local(26, 2, 10), Action.ACKNOWLEDGE)

    c9 = await register(local(9, 3, 9), "network", Channel.LETTER)
    states["c9"] = await at(c9, local(9, 3, 10), Action.ACKNOWLEDGE)
    assert states["c9"].deadlines.resolution_due_date == date(2026, 4, 6)
    return Population(states)


@pytest.fixture(scope="module")
async def population(pool: asyncpg.Pool) -> Population:
    return await build(Complaints(ComplaintRecords(pool, WorkingCalendar(), SETTINGS), ComplaintQueries(pool)))


@pytest.fixture
def reports(pool: asyncpg.Pool) -> ComplaintReports:
    return ComplaintReports(pool)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks, as PostgreSQL's `percentile_cont`."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def working_days(state: ComplaintState, since: datetime, until: datetime) -> int:
    """In the complaint's own recorded working days, the day of `since` not counted, the day of `until` counted."""
    start, end = since.astimezone(BUSINESS_TZ).date(), until.astimezone(BUSINESS_TZ).date()
    return sum(1 for day in state.working_days if start < day <= end)


# Per complaint of the SLA cohort (merged c5 and withdrawn c6 left out, c8 outside the period):
# month, department, channel, first response (decided, met, breached, hours), resolution (decided, met, breached,
# working days).
SLA_FACTS: dict[str, tuple[str, str, str, bool, bool, bool, float | None, bool, bool, bool, int | None]] = {
    "c1": ("2026-03", "billing", "email", True, True, False, 2.0, True, True, False, 5),
    "c2": ("2026-03", "network", "phone", True, False, True, 30.0, True, False, True, 21),
    "c3": ("2026-03", "billing", "email", True, True, False, 3.0, False, False, False, None),
    "c4": ("2026-03", "network", "email", True, True, False, 1.0, True, False, False, None),
    "c7": ("2026-04", "billing", "phone", True, False, False, None, False, False, False, None),
    "c9": ("2026-03", "network", "letter", True, True, False, 1.0, False, False, False, None),
}


def expected_sla(names: list[str]) -> tuple[Any, ...]:
    facts = [SLA_FACTS[name] for name in names]
    hours = [f[6] for f in facts if f[6] is not None]
    days = [float(f[10]) for f in facts if f[10] is not None]
    return (
        len(facts),
        sum(f[3] for f in facts),
        sum(f[4] for f in facts),
        sum(f[5] for f in facts),
        sum(f[7] for f in facts),
        sum(f[8] for f in facts),
        sum(f[9] for f in facts),
        percentile(hours, 0.5) if hours else None,
        percentile(hours, 0.9) if hours else None,
        percentile(days, 0.5) if days else None,
        percentile(days, 0.9) if days else None,
    )


def figures(row: Any) -> tuple[Any, ...]:
    return (
        row.complaints,
        row.first_response_decided,
        row.first_response_met,
        row.first_response_breaches,
        row.resolution_decided,
        row.resolution_met,
        row.resolution_breaches,
        row.first_response_hours_median,
        row.first_response_hours_p90,
        row.resolution_days_median,
        row.resolution_days_p90,
    )


def approx(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(round(v, 9) if isinstance(v, float) else v for v in values)


async def test_the_hand_worked_clocks_match_the_recorded_working_days(population: Population) -> None:
    s = population.states
    assert working_days(s["c1"], local(2, 3, 9), local(9, 3, 10)) == 5
    assert working_days(s["c2"], local(3, 3, 9), local(1, 4, 10)) == 21
    assert working_days(s["c3"], local(20, 3, 9), NOW) == 10
    assert working_days(s["c4"], local(5, 3, 9), NOW) == 21
    assert working_days(s["c8"], local(26, 2, 9), NOW) == 26
    assert working_days(s["c9"], local(9, 3, 9), NOW) == 19
    assert working_days(s["c7"], local(1, 4, 9), NOW) == 2


async def test_sla_compliance_by_month_department_channel_and_in_all(
    population: Population, reports: ComplaintReports, pool: asyncpg.Pool
) -> None:
    sla = await reports.sla(PERIOD, now=NOW)
    total = SLA_FACTS.keys()
    assert approx(figures(sla.total)) == (6, 6, 4, 1, 3, 1, 1, 2.0, 19.2, 13.0, 19.4)
    assert approx(figures(sla.total)) == approx(expected_sla(list(total)))
    assert sla.total.first_response_share == pytest.approx(4 / 6)
    assert sla.total.resolution_share == pytest.approx(1 / 3)

    def groups(index: int) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, facts in SLA_FACTS.items():
            found.setdefault(facts[index], []).append(name)
        return found

    for rows, index in ((sla.by_month, 0), (sla.by_department, 1), (sla.by_channel, 2)):
        expected = groups(index)
        assert [row.key for row in rows] == sorted(expected)
        for row in rows:
            assert approx(figures(row)) == approx(expected_sla(expected[row.key])), row.key

    [april] = [row for row in sla.by_month if row.key == "2026-04"]
    assert (april.first_response_decided, april.first_response_met, april.resolution_decided) == (1, 0, 0)
    assert april.first_response_share == 0.0 and april.resolution_share is None

    billing = await reports.sla(ReportFilter(PERIOD.start, PERIOD.end, department="billing"), now=NOW)
    assert approx(figures(billing.total)) == approx(expected_sla(["c1", "c3", "c7"]))
    assert [row.key for row in billing.by_department] == ["billing"]
    phone = await reports.sla(ReportFilter(PERIOD.start, PERIOD.end, channel="phone"), now=NOW)
    assert approx(figures(phone.total)) == approx(expected_sla(["c2", "c7"]))

    # Asked on 31 March, c4's due date and c7's first response due had not come: undecided is not missed.
    before = await reports.sla(PERIOD, now=local(31, 3, 12))
    assert (before.total.resolution_decided, before.total.first_response_decided) == (2, 5)

    nothing = await reports.sla(ReportFilter(date(2025, 1, 1), date(2025, 1, 31)), now=NOW)
    assert nothing.by_month == [] and nothing.total.complaints == 0 and nothing.total.first_response_share is None

    # A pool of one connection reads the SLA's two halves one after the other, in one transaction: the same figures.
    class OneConnection:
        def get_max_size(self) -> int:
            return 1

        def acquire(self) -> Any:
            return pool.acquire()

    assert await ComplaintReports(cast(asyncpg.Pool, OneConnection())).sla(PERIOD, now=NOW) == sla


async def test_where_the_time_goes(population: Population, reports: ComplaintReports) -> None:
    report = await reports.stage_time(PERIOD, now=NOW)
    got = {s.stage: (s.complaints, s.visits, round(s.hours, 6)) for s in report.stages}
    assert got == {
        "received": (8, 8, 2 + 30 + 3 + 1 + 1 + 0.5 + 49 + 1),
        "analysing": (5, 6, 22 + 1 + 4 + 334 + 2.5 + 600),
        "awaiting_customer": (2, 2, 42 + 696),
        "cause_identified": (2, 3, 1 + 1 + 1),
        "awaiting_approval": (2, 3, 5 + 66 + 1),
        "approved": (2, 2, 139 + 551),
        "answered": (2, 2, 23 + 23),
    }
    assert [s.stage for s in report.stages] == list(got)  # the order of the process
    assert report.total_hours == pytest.approx(87.5 + 963.5 + 738 + 3 + 72 + 690 + 46)
    [approved] = [s for s in report.stages if s.stage == "approved"]
    assert approved.mean_hours == 345
    assert report.share(approved) == pytest.approx(690 / report.total_hours)

    network = await reports.stage_time(ReportFilter(PERIOD.start, PERIOD.end, department="network"), now=NOW)
    assert {s.stage: s.visits for s in network.stages} == {
        "received": 4,  # c2, c4, c5, c9
        "analysing": 3,  # c2 twice, c9
        "awaiting_customer": 2,
        "cause_identified": 2,
        "awaiting_approval": 2,
        "approved": 1,
        "answered": 1,
    }


async def test_work_in_progress(population: Population, reports: ComplaintReports) -> None:
    wip = await reports.work_in_progress(PERIOD, now=NOW)
    assert wip.today == date(2026, 4, 3)
    assert wip.by_stage_and_age == {
        ("analysing", 1): 1,  # c3, 10 working days
        ("awaiting_customer", 4): 1,  # c4, 21
        ("received", 0): 1,  # c7, 2
        ("analysing", 4): 1,  # c8, 26
        ("analysing", 3): 1,  # c9, 19
    }
    assert wip.open_total == 5 and wip.stage_total("analysing") == 3 and wip.age_total(4) == 2
    ids = population.id
    assert [(row.complaint_id, row.working_days_left) for row in wip.due_soon] == [(ids("c9"), 1)]
    assert wip.due_soon_total == 1
    assert [row.complaint_id for row in wip.overdue] == [ids("c8"), ids("c4"), ids("c7")]
    assert [row.age_working_days for row in wip.overdue] == [26, 21, 2]
    assert wip.overdue_total == 3
    assert wip.due_soon[0].case_number == population.states["c9"].case_number

    limited = await reports.work_in_progress(PERIOD, now=NOW, limit=1)
    assert len(limited.overdue) == 1 and limited.overdue_total == 3
    billing = await reports.work_in_progress(ReportFilter(PERIOD.start, PERIOD.end, department="billing"), now=NOW)
    assert billing.open_total == 3 and billing.due_soon == [] and billing.overdue_total == 2


async def test_volume_per_week(population: Population, reports: ComplaintReports) -> None:
    volume = await reports.volume(PERIOD)
    weeks = {
        w.week: (w.received, w.reopened, w.merged, w.withdrawn, w.answered, w.received_by_channel) for w in volume.weeks
    }
    assert weeks == {
        date(2026, 3, 2): (6, 0, 1, 1, 1, {"email": 4, "phone": 2}),
        date(2026, 3, 9): (1, 0, 0, 0, 1, {"letter": 1}),
        date(2026, 3, 16): (0, 1, 0, 0, 0, {}),
        date(2026, 3, 30): (1, 0, 0, 0, 1, {"phone": 1}),
    }
    assert {w.week: w.received_by_department for w in volume.weeks}[date(2026, 3, 2)] == {"billing": 3, "network": 3}
    assert volume.channels == ["email", "letter", "phone"] and volume.departments == ["billing", "network"]
    assert (volume.total("received"), volume.total("answered")) == (8, 3)
    assert volume.reopen_rate == pytest.approx(1 / 3)

    email = await reports.volume(ReportFilter(PERIOD.start, PERIOD.end, channel="email"))
    assert [(w.week, w.received, w.reopened, w.merged) for w in email.weeks] == [
        (date(2026, 3, 2), 4, 0, 1),
        (date(2026, 3, 9), 0, 0, 0),  # c1 answered that week
        (date(2026, 3, 16), 0, 1, 0),
    ]
    february = await reports.volume(ReportFilter(date(2026, 2, 1), date(2026, 2, 28)))
    assert [(w.week, w.received) for w in february.weeks] == [(date(2026, 2, 23), 1)]
    assert february.reopen_rate is None


async def test_lessons_learned_grouped_and_searched(population: Population, reports: ComplaintReports) -> None:
    report = await reports.lessons(PERIOD)
    ids = population.id
    assert [(g.department, g.company_at_fault, g.closes) for g in report.groups] == [
        ("billing", True, 1),
        ("billing", None, 1),
        ("network", False, 1),
    ]
    assert [(lesson.complaint_id, lesson.cycle) for lesson in report.lessons] == [
        (ids("c2"), 1),
        (ids("c1"), 1),
        (ids("c3"), 1),
    ]
    assert report.total == 3
    c1 = report.lessons[1]
    assert (c1.lessons_learned, c1.summary, c1.cause, c1.company_at_fault) == (
        "Kiểm tra bảng cước trước",
        "Đã hoàn cước",
        CAUSE,
        True,
    )
    assert c1.closed_at == local(10, 3, 9) and c1.department == "billing"
    assert report.lessons[2].cause is None and report.lessons[2].company_at_fault is None
    [recurring] = report.recurring_causes
    assert recurring.cause.lower() == CAUSE.lower() and recurring.closes == 2
    assert recurring.departments == ["billing", "network"]

    found = await reports.lessons(PERIOD, search="bảng cước")
    assert [lesson.complaint_id for lesson in found.lessons] == [ids("c1")] and found.total == 1
    by_cause = await reports.lessons(PERIOD, search="tính cước tự")
    assert {lesson.complaint_id for lesson in by_cause.lessons} == {ids("c1"), ids("c2")}
    assert (await reports.lessons(PERIOD, search="100%_")).total == 0
    limited = await reports.lessons(PERIOD, limit=1)
    assert len(limited.lessons) == 1 and limited.total == 3
    network = await reports.lessons(ReportFilter(PERIOD.start, PERIOD.end, department="network"))
    assert [lesson.complaint_id for lesson in network.lessons] == [ids("c2")]
    assert network.recurring_causes == []


async def clock_row(pool: asyncpg.Pool, state: ComplaintState) -> tuple[Any, ...]:
    """The stage clock of a complaint: its stage, hours and visits per stage (non-zero only), cause."""
    row = await pool.fetchrow(
        "SELECT stage, cycle, seconds, visits, cause, company_at_fault FROM complaint_stage_clock"
        " WHERE complaint_id = $1",
        state.complaint_id,
    )
    assert row is not None
    stages = [stage.value for stage in Stage]
    hours = {stages[i]: seconds / 3600 for i, seconds in enumerate(row["seconds"]) if seconds}
    visits = {stages[i]: n for i, n in enumerate(row["visits"]) if n}
    return row["stage"], row["cycle"], hours, visits, row["cause"], row["company_at_fault"]


async def test_the_stage_clock_takes_the_stage_the_domain_decided(pool: asyncpg.Pool) -> None:
    """The record write moves the stage clock to the stage in the transition's state (not one derived from the
    event's kind): information received goes back to analysing without a cause and to cause identified with one; a
    rejected plan goes back to cause identified; an event that leaves the stage alone (a note, a transfer) adds no
    visit; a reopen starts the new cycle's clock."""
    assert await pool.fetchval("SELECT report_stages()") == [stage.value for stage in Stage], "the arrays' order"
    complaints = Complaints(ComplaintRecords(pool, WorkingCalendar(), SETTINGS), ComplaintQueries(pool))
    asked = {"missing": ["documents"], "message": "Xin ảnh"}
    cause = {"cause": "Cáp quang đứt", "company_at_fault": True, "departments": []}
    received = datetime(2025, 6, 2, 9, tzinfo=BUSINESS_TZ)  # outside every period the other tests read

    without = (await complaints.register(received_at=received, department="network")).state
    without = await complaints.step(without, Action.ACKNOWLEDGE)
    without = await complaints.step(without, Action.REQUEST_INFO, asked, after=timedelta(hours=2))
    without = await complaints.step(
        without, Action.CUSTOMER_INFO_RECEIVED, {"summary": "Ảnh"}, after=timedelta(hours=5)
    )
    assert without.stage is Stage.ANALYSING
    assert await clock_row(pool, without) == (
        "analysing",
        1,
        {"received": 1, "analysing": 2, "awaiting_customer": 5},
        {"received": 1, "analysing": 2, "awaiting_customer": 1},
        None,
        None,
    )

    with_cause = (await complaints.register(received_at=received, department="network")).state
    with_cause = await complaints.step(with_cause, Action.CAUSE_IDENTIFIED, cause)
    with_cause = await complaints.step(with_cause, Action.REQUEST_INFO, asked, after=timedelta(hours=2))
    with_cause = await complaints.step(with_cause, Action.ADD_NOTE, {"text": "Đã gọi khách"}, after=timedelta(hours=1))
    with_cause = await complaints.step(
        with_cause, Action.CUSTOMER_INFO_RECEIVED, {"summary": "Ảnh"}, after=timedelta(hours=3)
    )
    assert with_cause.stage is Stage.CAUSE_IDENTIFIED
    with_cause = await complaints.step(with_cause, Action.PROPOSE_PLAN, {"plan": "Nối cáp"}, after=timedelta(hours=1))
    with_cause = await complaints.step(
        with_cause, Action.MANAGER_APPROVAL, {"approved": False, "comment": "Thiếu"}, role=Role.MANAGER
    )
    assert with_cause.stage is Stage.CAUSE_IDENTIFIED
    assert await clock_row(pool, with_cause) == (
        "cause_identified",
        1,
        {"received": 1, "cause_identified": 2 + 1, "awaiting_customer": 4, "awaiting_approval": 1},
        {"received": 1, "cause_identified": 3, "awaiting_customer": 1, "awaiting_approval": 1},
        "Cáp quang đứt",
        True,
    )

    # The write reads the stage from the state alone: whatever the event's kind, the state names the stage.
    noted = complaints.act(with_cause, Action.ADD_NOTE, {"text": "Chờ duyệt lại"}, after=timedelta(hours=2))
    forged = noted.model_copy(update={"state": noted.state.model_copy(update={"stage": Stage.AWAITING_APPROVAL})})
    await complaints.record(forged)
    stage, _, hours, visits, _, _ = await clock_row(pool, with_cause)
    assert (stage, hours["cause_identified"], visits["awaiting_approval"]) == ("awaiting_approval", 5, 2)


def test_a_period_is_local_dates_both_included() -> None:
    march = ReportFilter.month(2026, 3)
    assert (march.start, march.end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert march.since == local(1, 3, 0) and march.until == local(1, 4, 0)
    assert ReportFilter.month(2024, 2).end == date(2024, 2, 29)
    assert ReportFilter.month(2026, 12).end == date(2026, 12, 31)
    with pytest.raises(ValueError):
        ReportFilter(date(2026, 3, 2), date(2026, 3, 1))


async def test_working_days_between_counts_the_cycles_own_days_then_weekdays(pool: asyncpg.Pool) -> None:
    """`complaint_working_days_between` (migration 0009) against a plain count: the cycle's list, a day off in it
    (10 March), and weekdays past its end."""
    first = date(2026, 3, 2)
    days = [d for d in (first + timedelta(days=n) for n in range(30)) if d.weekday() < 5 and d != date(2026, 3, 10)]
    last = days[-1]

    def expected(listed: list[date], since: date, until: date) -> int:
        inside = sum(1 for d in listed if since < d <= until)
        start = max(since, listed[-1]) if listed else since
        beyond = sum(1 for n in range(1, (until - start).days + 1) if (start + timedelta(days=n)).weekday() < 5)
        return inside + beyond

    cases = [(first, first), (first, date(2026, 3, 9)), (first, date(2026, 3, 11)), (date(2026, 3, 7), last)]
    cases += [(first, last + timedelta(days=n)) for n in range(0, 20)]
    cases += [(last + timedelta(days=2), last + timedelta(days=40)), (date(2026, 3, 20), date(2026, 3, 1))]
    for listed in (days, []):
        for since, until in cases:
            got = await pool.fetchval("SELECT complaint_working_days_between($1, $2, $3)", listed, since, until)
            assert got == (expected(listed, since, until) if until > since else 0), (len(listed), since, until)


async def test_the_record_write_counts_working_days_as_the_reports_do(pool: asyncpg.Pool) -> None:
    """The snapshot's working days to the answer (`domain.lifecycle.working_days_between`, written by the record
    write) and the reports' ages (`complaint_working_days_between`, at `now`) count alike: in the list, with a day
    off in it, and past its end."""
    first = date(2026, 3, 2)
    days = [d for d in (first + timedelta(days=n) for n in range(30)) if d.weekday() < 5 and d != date(2026, 3, 10)]
    last = days[-1]
    cases = [(first, first), (first, date(2026, 3, 10)), (date(2026, 3, 7), last), (date(2026, 3, 20), first)]
    cases += [
        (since, last + timedelta(days=n)) for n in range(0, 20, 3) for since in (first, last, last + timedelta(2))
    ]
    for listed in (days, []):
        for since, until in cases:
            counted = await pool.fetchval("SELECT complaint_working_days_between($1, $2, $3)", listed, since, until)
            assert working_days_between(listed, since, until) == counted, (len(listed), since, until)


async def test_an_upgraded_database_gets_the_same_figures(
    population: Population, pool: asyncpg.Pool, empty_database: str, tmp_path: Path
) -> None:
    """A database with complaints recorded before the reports existed gets the same figures as one that had them
    from the start: migration 0009 replays the timeline on record into the stage clocks and the lessons register,
    0010 adds what the reports filter by; and the record write carries on from there."""
    before = tmp_path / "before"
    before.mkdir()
    for path in migration_files():
        if path.name < "0009":
            shutil.copy(path, before / path.name)
    old = await create_pool(empty_database)
    try:
        await migrate(old, before)
        # The population as a database before the reports held it: the snapshot's columns of then, the timeline.
        for table in ("complaints", "complaint_events"):
            columns = [
                row["column_name"]
                for row in await old.fetch(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
                    table,
                )
            ]
            rows = await pool.fetch(f"SELECT {', '.join(columns)} FROM {table}")
            values = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            await old.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})", rows)
        assert await migrate(old) == [path.name for path in migration_files() if path.name >= "0009"]
        reports = ComplaintReports(old)
        stages = await reports.stage_time(PERIOD, now=NOW)
        assert {s.stage: (s.complaints, s.visits) for s in stages.stages}["analysing"] == (5, 6)
        assert round(stages.total_hours, 6) == 87.5 + 963.5 + 738 + 3 + 72 + 690 + 46
        lessons = await reports.lessons(PERIOD)
        assert [lesson.complaint_id for lesson in lessons.lessons] == [population.id(n) for n in ("c2", "c1", "c3")]
        assert [lesson.case_number for lesson in lessons.lessons] == [
            population.states[n].case_number for n in ("c2", "c1", "c3")
        ]
        assert [(c.closes, c.departments) for c in lessons.recurring_causes] == [(2, ["billing", "network"])]
        sla = await reports.sla(PERIOD, now=NOW)
        assert approx(figures(sla.total)) == (6, 6, 4, 1, 3, 1, 1, 2.0, 19.2, 13.0, 19.4)
        volume = await reports.volume(PERIOD)
        assert (volume.total("received"), volume.total("answered"), volume.reopen_rate) == (8, 3, 1 / 3)

        # The record write carries on over the clocks migration 0009 replayed: c9 waits for its cause.
        complaints = Complaints(ComplaintRecords(old, WorkingCalendar(), SETTINGS), ComplaintQueries(old))
        c9 = population.states["c9"]
        asked = {"missing": ["documents"], "message": "Xin hợp đồng"}
        await complaints.step(c9, Action.REQUEST_INFO, asked, after=local(30, 3, 10) - local(9, 3, 10))
        later = await reports.stage_time(PERIOD, now=NOW)
        waiting = {s.stage: (s.visits, round(s.hours, 6)) for s in later.stages}["awaiting_customer"]
        assert waiting == (3, 42 + 696 + 4 * 24)
    finally:
        await old.close()
