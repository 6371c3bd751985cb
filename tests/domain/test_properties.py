"""Property tests of the pure rules: whatever agents, managers, services and clocks do, the state stays valid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.actions import Action, ActionRequest, Role
from domain.calendar import BUSINESS_TZ, WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.intake import Intake
from domain.lifecycle import (
    RULES,
    ActionRejected,
    allowed_actions,
    apply_action,
    apply_clock,
    is_final,
    next_clock,
    start_state,
)
from domain.models import ComplaintState, CycleClocks, Stage
from domain.policy import POLICY

CALENDAR = WorkingCalendar()
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

VALID_DATA: dict[Action, dict[str, Any]] = {
    Action.ACKNOWLEDGE: {},
    Action.REQUEST_INFO: {"missing": ["documents"], "message": "xin bổ sung"},
    Action.CUSTOMER_INFO_RECEIVED: {"summary": "đã nhận"},
    Action.CUSTOMER_WROTE: {"text": "vẫn lỗi"},
    Action.TRANSFER: {"to_department": "technical", "reason": "kỹ thuật"},
    Action.RESOLVE_ON_FIRST_CONTACT: {"resolution": "đã xử lý", "customer_agreed": True},
    Action.CAUSE_IDENTIFIED: {"cause": "lỗi", "company_at_fault": True, "departments": ["network"]},
    Action.PROPOSE_PLAN: {"plan": "sửa"},
    Action.MANAGER_APPROVAL: {"approved": True},
    Action.SEND_RESOLUTION: {"reply": "đã sửa"},
    Action.REPORT_FOLLOWUP: {"fault": "lỗi khác"},
    Action.CLOSE: {"summary": "xong", "lessons_learned": "bài học"},
    Action.REOPEN: {"reason": "không đồng ý"},
    Action.MERGE_INTO: {"primary_complaint_id": "other"},
    Action.WITHDRAW: {"reason": "rút"},
    Action.ADD_NOTE: {"text": "ghi chú"},
}
INVALID_DATA: list[dict[str, Any]] = [
    {"unexpected": True},
    {"approved": False},
    {"to_department": "customer_care", "reason": "x"},
    {"resolution": "r", "customer_agreed": False},
    {"missing": [], "message": "m"},
]


def clocks(received_at: datetime) -> CycleClocks:
    deadlines = compute_deadlines(received_at, CALENDAR)
    first = received_at.astimezone(BUSINESS_TZ).date()
    days = [first + timedelta(days=i) for i in range(120) if CALENDAR.is_working_day(first + timedelta(days=i))]
    return CycleClocks(deadlines=deadlines, working_days=days)


def fresh() -> ComplaintState:
    intake = Intake.model_validate(
        {
            "customer": {"name": "Khách", "email": "k@example.vn"},
            "channel": "email",
            "subject": "s",
            "description": "d",
        }
    )
    return start_state("c1", "KN-2026-000001", intake, clocks(START), START).state


step = st.one_of(
    st.tuples(
        st.just("act"),
        st.sampled_from(list(Action)),
        st.sampled_from(list(Role)),
        st.one_of(st.none(), st.sampled_from(INVALID_DATA)),
        st.integers(min_value=0, max_value=72),
    ),
    st.tuples(st.just("clock"), st.none(), st.none(), st.none(), st.none()),
)


def check_invariants(state: ComplaintState) -> None:
    kept = len(state.timeline)
    assert [e.seq for e in state.timeline] == list(range(state.last_seq - kept + 1, state.last_seq + 1))
    assert kept == min(state.last_seq, POLICY.timeline_kept)
    assert len(set(state.applied_requests)) == len(state.applied_requests)
    assert ComplaintState.model_validate(state.model_dump(mode="json")) == state
    assert state.deadlines.first_response_due == state.received_at + timedelta(hours=24)
    assert state.received_at < state.deadlines.resolution_due
    if is_final(state):
        assert allowed_actions(state) == [] and next_clock(state) is None
    if state.resolution_breached:
        assert state.escalation_level == 3
    if state.first_response_breached:
        assert state.escalation_level >= 1
    assert all(e.at >= state.timeline[0].at for e in state.timeline)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=30))
def test_any_sequence_is_rejected_with_a_reason_or_yields_a_valid_state(steps: list[Any]) -> None:
    state = fresh()
    now = START
    for n, (kind, action, role, bad_data, hours) in enumerate(steps):
        before = state.model_copy(deep=True)
        if kind == "clock":
            clock = next_clock(state)
            if clock is None or clock.event.value == "archived":
                continue
            now = max(now, clock.at)
            new = apply_clock(state, clock.event, now).state
            assert new.escalation_level >= state.escalation_level
        else:
            now += timedelta(hours=hours)
            data = VALID_DATA[action] if bad_data is None else bad_data
            request = ActionRequest(request_id=f"r{n}", actor="x", role=role, data=data)
            new_cycle = clocks(now) if action is Action.REOPEN else None
            try:
                new = apply_action(state, action, request, now, new_cycle).state
            except ActionRejected as rejected:
                assert str(rejected), "a rejection must say why"
                assert state == before, "a rejected action changes nothing"
                continue
            assert role in RULES[action].roles and before.stage in RULES[action].stages
            assert new.last_seq == state.last_seq + 1 and new.timeline[-1].seq == new.last_seq
            if new.cycle == state.cycle:
                assert new.escalation_level >= state.escalation_level
            if RULES[action].messages_customer:
                assert new.first_responded_at is not None
        assert state == before, "applying never mutates the old state"
        check_invariants(new)
        state = new


instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(instants, instants)
def test_deadlines_are_monotone_in_the_receipt(a: datetime, b: datetime) -> None:
    early, late = sorted((a, b))
    d_early, d_late = compute_deadlines(early, CALENDAR), compute_deadlines(late, CALENDAR)
    assert d_early.resolution_due <= d_late.resolution_due
    assert d_early.first_response_due <= d_late.first_response_due
    assert d_early.resolution_warning_at <= d_late.resolution_warning_at


@settings(max_examples=300, deadline=None)
@given(instants)
def test_due_date_is_the_twentieth_working_day_after_the_local_receipt(received_at: datetime) -> None:
    deadlines = compute_deadlines(received_at, CALENDAR)
    local: date = received_at.astimezone(BUSINESS_TZ).date()
    due = deadlines.resolution_due_date
    assert CALENDAR.is_working_day(due)
    between = [local + timedelta(days=i) for i in range(1, (due - local).days + 1)]
    assert sum(CALENDAR.is_working_day(d) for d in between) == 20
    assert CALENDAR.is_working_day(deadlines.resolution_warning_at.astimezone(BUSINESS_TZ).date())
    assert deadlines.resolution_warning_at < deadlines.resolution_due
    assert deadlines.resolution_due.astimezone(BUSINESS_TZ).date() == due + timedelta(days=1)
    assert deadlines.resolution_due.astimezone(BUSINESS_TZ).time().hour == 0


def test_every_stage_offers_only_what_it_allows() -> None:
    for stage in Stage:
        state = fresh().model_copy(update={"stage": stage})
        for action in allowed_actions(state):
            assert stage in RULES[action].stages
