"""The lifecycle rules as plain functions: every path, every refusal, every clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.actions import Action, ActionRequest, Role
from domain.calendar import WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.intake import Intake
from domain.lifecycle import (
    ActionRejected,
    ClockEvent,
    absorb_duplicate,
    allowed_actions,
    apply_action,
    apply_clock,
    check_action,
    check_merge,
    is_repeat,
    next_clock,
    start_state,
)
from domain.models import ComplaintState, CycleClocks, DocumentKind, EscalationLevel, MergePrimary, Recipient, Stage
from domain.policy import POLICY
from domain.refusals import Refusal

CALENDAR = WorkingCalendar()
RECEIVED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Mon 2 Mar 2026, 08:00 local: due Mon 30 Mar


def clocks(received_at: datetime) -> CycleClocks:
    deadlines = compute_deadlines(received_at, CALENDAR)
    day, days = received_at.date(), []
    while day <= deadlines.resolution_due_date + timedelta(days=60):
        if CALENDAR.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    return CycleClocks(deadlines=deadlines, working_days=days)


def new_complaint(received_at: datetime = RECEIVED) -> ComplaintState:
    intake = Intake.model_validate(
        {
            "customer": {"name": "Nguyễn Văn A", "phone": "0901234567"},
            "channel": "phone",
            "subject": "Website down",
            "description": "Trang web không truy cập được từ sáng.",
        }
    )
    return start_state("c1", "KN-2026-000001", intake, clocks(received_at), received_at).state


_counter = iter(range(1_000_000))


def req(role: Role = Role.AGENT, **data: Any) -> ActionRequest:
    return ActionRequest(request_id=f"r{next(_counter)}", actor="an", role=role, data=data)


def act(
    state: ComplaintState, action: Action, role: Role = Role.AGENT, at: datetime | None = None, **data: Any
) -> ComplaintState:
    return apply_action(state, action, req(role, **data), at or state.received_at + timedelta(hours=1)).state


def test_receipt_writes_receipt_form_and_first_event() -> None:
    intake_state = new_complaint()
    transition = start_state("c1", "KN-2026-000001", intake_state.intake, clocks(RECEIVED), RECEIVED)
    assert transition.documents == [DocumentKind.RECEIPT_FORM]
    assert transition.event.seq == 1 and transition.event.kind == "received"
    assert transition.state.stage is Stage.RECEIVED


def written_in(channel: str, email: str | None = "an@example.vn") -> Intake:
    customer = {"name": "Nguyễn Văn A", "phone": "0901234567"} | ({"email": email} if email else {})
    return Intake.model_validate(
        {"customer": customer, "channel": channel, "subject": "Website down", "description": "Trang web lỗi."}
    )


@pytest.mark.parametrize("channel", ["email", "web"])
def test_a_customer_who_wrote_in_gets_a_receipt_that_is_no_first_response(channel: str) -> None:
    """The receipt mail carries the case number and the due date; only staff's own message answers the 24 hours."""
    transition = start_state("c1", "KN-2026-000001", written_in(channel), clocks(RECEIVED), RECEIVED)
    assert [(n.recipient, n.template) for n in transition.notifications] == [(Recipient.CUSTOMER, "receipt")]
    assert transition.state.first_responded_at is None
    assert next_clock(transition.state) == next_clock(new_complaint())  # the first-response reminder still comes
    acknowledged = act(transition.state, Action.ACKNOWLEDGE)
    assert acknowledged.first_responded_at is not None


@pytest.mark.parametrize(
    ("channel", "email"),
    [("phone", "an@example.vn"), ("support_ticket", "an@example.vn"), ("email", None), ("letter", "an@example.vn")],
)
def test_no_receipt_mail_where_an_agent_or_another_system_answers(channel: str, email: str | None) -> None:
    """Phone, branch and letter have an agent and the receipt form; a ticket's system answers its own customer;
    and without an address there is nowhere to send it."""
    intake = written_in(channel, email)
    assert start_state("c1", "KN-2026-000001", intake, clocks(RECEIVED), RECEIVED).notifications == []


def test_full_path_to_close() -> None:
    s = new_complaint()
    s = act(s, Action.ACKNOWLEDGE)
    assert s.stage is Stage.ANALYSING and s.first_responded_at is not None
    s = act(s, Action.REQUEST_INFO, missing=["documents"], message="Xin gửi ảnh chụp lỗi")
    assert s.stage is Stage.AWAITING_CUSTOMER
    s = act(s, Action.CUSTOMER_INFO_RECEIVED, role=Role.SYSTEM, summary="ảnh đã gửi")
    assert s.stage is Stage.ANALYSING
    s = act(s, Action.TRANSFER, to_department="technical", reason="lỗi máy chủ")
    assert s.department == "technical"
    s = act(s, Action.CAUSE_IDENTIFIED, cause="disk full", company_at_fault=True, departments=["technical"])
    s = act(s, Action.PROPOSE_PLAN, plan="clean disk, credit 1 month")
    assert s.stage is Stage.AWAITING_APPROVAL
    s = act(s, Action.MANAGER_APPROVAL, role=Role.MANAGER, approved=True)
    assert s.stage is Stage.APPROVED
    transition = apply_action(s, Action.SEND_RESOLUTION, req(reply="Đã khắc phục"), RECEIVED + timedelta(days=2))
    assert transition.documents == [DocumentKind.WRITTEN_REPLY, DocumentKind.FIX_REQUEST]
    assert {n.recipient for n in transition.notifications} == {Recipient.CUSTOMER, Recipient.DEPARTMENT}
    s = act(transition.state, Action.CLOSE, summary="ok", lessons_learned="monitor disks")
    assert s.stage is Stage.CLOSED and s.lessons_learned == "monitor disks"
    assert [e.seq for e in s.timeline] == list(range(1, len(s.timeline) + 1))


def test_thousands_of_notes_keep_the_state_bounded() -> None:
    """The state keeps the latest events only (the record has them all); positions keep counting."""
    s = new_complaint()
    for n in range(2_000):
        s = apply_action(s, Action.ADD_NOTE, req(text=f"ghi chú {n}"), RECEIVED + timedelta(minutes=n)).state
    assert s.last_seq == 2_001
    assert [e.seq for e in s.timeline] == list(range(2_002 - POLICY.timeline_kept, 2_002))
    assert s.without_history().timeline == [] and s.without_history().last_seq == 2_001
    assert len(s.without_history().model_dump_json()) < 10_000
    assert ComplaintState.model_validate(s.model_dump(mode="json")) == s


def test_a_state_recorded_before_last_seq_takes_it_from_its_timeline() -> None:
    s = act(new_complaint(), Action.ACKNOWLEDGE)
    recorded = s.model_dump(mode="json")
    del recorded["last_seq"]
    assert ComplaintState.model_validate(recorded).last_seq == 2


def test_rejected_plan_goes_back_for_a_new_one() -> None:
    s = act(
        act(new_complaint(), Action.CAUSE_IDENTIFIED, cause="x", company_at_fault=False), Action.PROPOSE_PLAN, plan="p"
    )
    s = act(s, Action.MANAGER_APPROVAL, role=Role.MANAGER, approved=False, comment="too costly")
    assert s.stage is Stage.CAUSE_IDENTIFIED and s.approval and not s.approval.approved
    assert Action.PROPOSE_PLAN in allowed_actions(s)


def test_resolve_on_first_contact_writes_resolution_record_not_receipt() -> None:
    transition = apply_action(
        new_complaint(), Action.RESOLVE_ON_FIRST_CONTACT, req(resolution="đã hướng dẫn", customer_agreed=True), RECEIVED
    )
    assert transition.state.stage is Stage.ANSWERED
    assert transition.documents == [DocumentKind.RESOLUTION_RECORD]


@pytest.mark.parametrize(
    ("action", "role", "data", "reason"),
    [
        (Action.MANAGER_APPROVAL, Role.AGENT, {"approved": True}, "needs the role manager"),
        (Action.CLOSE, Role.AGENT, {"summary": "s", "lessons_learned": "l"}, "not allowed while the complaint is"),
        (Action.TRANSFER, Role.AGENT, {"to_department": "customer_care", "reason": "r"}, "already with"),
        (Action.REQUEST_INFO, Role.AGENT, {"message": "m"}, "missing"),
        (Action.RESOLVE_ON_FIRST_CONTACT, Role.AGENT, {"resolution": "r", "customer_agreed": False}, "must agree"),
        (Action.MERGE_INTO, Role.AGENT, {"primary_complaint_id": "c1"}, "into itself"),
        (Action.ACKNOWLEDGE, Role.AGENT, {"unexpected": 1}, "unexpected"),
    ],
)
def test_refusals_say_why(action: Action, role: Role, data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ActionRejected, match=reason):
        check_action(new_complaint(), action, req(role, **data))


@pytest.mark.parametrize(
    ("action", "role", "data", "code", "params"),
    [
        (
            Action.MANAGER_APPROVAL,
            Role.AGENT,
            {"approved": True},
            Refusal.ROLE_REQUIRED,
            {"action": "manager_approval", "roles": ["manager"], "role": "agent"},
        ),
        (
            Action.CUSTOMER_INFO_RECEIVED,
            Role.AGENT,
            {"summary": "s"},
            Refusal.STAGE_NOT_ALLOWED,
            {"action": "customer_info_received", "stage": "received"},
        ),
        (
            Action.TRANSFER,
            Role.AGENT,
            {"to_department": "customer_care", "reason": "r"},
            Refusal.ALREADY_WITH_DEPARTMENT,
            {"action": "transfer", "department": "customer_care"},
        ),
        (
            Action.REQUEST_INFO,
            Role.AGENT,
            {"message": "m"},
            Refusal.FIELD_INVALID,
            {"action": "request_info", "field": "missing", "problem": "missing"},
        ),
        (
            Action.ADD_NOTE,
            Role.AGENT,
            {"text": "x" * 10_001},
            Refusal.FIELD_INVALID,
            {"action": "add_note", "field": "text", "problem": "string_too_long", "max_length": "5000"},
        ),
        (
            Action.ACKNOWLEDGE,
            Role.AGENT,
            {"unexpected": 1},
            Refusal.FIELD_INVALID,
            {"action": "acknowledge", "field": "unexpected", "problem": "extra_forbidden"},
        ),
        (
            Action.RESOLVE_ON_FIRST_CONTACT,
            Role.AGENT,
            {"resolution": "r", "customer_agreed": False},
            Refusal.CUSTOMER_MUST_AGREE,
            {"action": "resolve_on_first_contact"},
        ),
        (
            Action.MERGE_INTO,
            Role.AGENT,
            {"primary_complaint_id": "c1"},
            Refusal.MERGE_INTO_ITSELF,
            {"action": "merge_into"},
        ),
    ],
)
def test_each_refusal_carries_its_code_and_params(
    action: Action, role: Role, data: dict[str, Any], code: Refusal, params: dict[str, Any]
) -> None:
    """A door words the refusal from these, in its reader's language; they are JSON, as the workflow's details."""
    with pytest.raises(ActionRejected) as refused:
        check_action(new_complaint(), action, req(role, **data))
    assert refused.value.code is code
    assert refused.value.params == params
    assert refused.value.details() == {"code": code.value, "params": params}
    assert json.loads(json.dumps(refused.value.details())) == refused.value.details()


@pytest.mark.parametrize(
    ("primary", "role", "code"),
    [
        (None, Role.AGENT, Refusal.MERGE_NOT_OPEN),
        (
            MergePrimary(complaint_id="c9", stage=Stage.CLOSED, cycle=1, received_at=RECEIVED),
            Role.AGENT,
            Refusal.MERGE_NOT_OPEN,
        ),
        (
            MergePrimary(complaint_id="c9", stage=Stage.ANALYSING, cycle=1, received_at=RECEIVED + timedelta(days=1)),
            Role.AGENT,
            Refusal.MERGE_NEEDS_MANAGER,
        ),
    ],
)
def test_merge_refusals_carry_their_code_and_the_primary(
    primary: MergePrimary | None, role: Role, code: Refusal
) -> None:
    with pytest.raises(ActionRejected) as refused:
        check_merge(new_complaint(), req(role, primary_complaint_id="c9"), primary)
    assert refused.value.code is code
    assert refused.value.params == {"action": "merge_into", "primary": "c9"}


def test_a_manager_may_merge_an_earlier_complaint() -> None:
    later = MergePrimary(complaint_id="c9", stage=Stage.ANALYSING, cycle=1, received_at=RECEIVED + timedelta(days=1))
    check_merge(new_complaint(), req(Role.MANAGER, primary_complaint_id="c9"), later)


def test_rejected_plan_needs_a_comment() -> None:
    s = act(
        act(new_complaint(), Action.CAUSE_IDENTIFIED, cause="x", company_at_fault=False), Action.PROPOSE_PLAN, plan="p"
    )
    with pytest.raises(ActionRejected, match="comment is required"):
        check_action(s, Action.MANAGER_APPROVAL, req(Role.MANAGER, approved=False))


def test_repeat_request_is_recognised() -> None:
    s = new_complaint()
    request = req()
    s2 = apply_action(s, Action.ACKNOWLEDGE, request, RECEIVED).state
    assert is_repeat(s2, request) and not is_repeat(s, request)


def test_apply_does_not_touch_the_old_state() -> None:
    s = new_complaint()
    act(s, Action.ACKNOWLEDGE)
    assert s.stage is Stage.RECEIVED and len(s.timeline) == 1


def test_clocks_fire_in_order_and_escalate() -> None:
    s = new_complaint()
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.FIRST_RESPONSE_REMINDED and clock.at == RECEIVED + timedelta(hours=20)
    s = apply_clock(s, clock.event, clock.at).state
    assert s.first_response_reminded and s.escalation_level is EscalationLevel.NONE
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.FIRST_RESPONSE_ESCALATED and clock.at == RECEIVED + timedelta(hours=24)
    s = apply_clock(s, clock.event, clock.at).state
    assert s.first_response_breached and s.escalation_level is EscalationLevel.SUPERVISOR
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.RESOLUTION_WARNING
    assert clock.at == datetime(2026, 3, 25, 1, 0, tzinfo=UTC)  # 08:00 local, 3 working days before Mon 30 Mar
    s = apply_clock(s, clock.event, clock.at).state
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.RESOLUTION_BREACHED
    assert clock.at == datetime(2026, 3, 30, 17, 0, tzinfo=UTC)
    s = apply_clock(s, clock.event, clock.at).state
    assert s.resolution_breached and s.escalation_level is EscalationLevel.MANAGER
    assert s.stage is Stage.RECEIVED  # a breach never closes a complaint
    assert next_clock(s) is None


def test_first_response_met_stops_its_clock() -> None:
    s = act(new_complaint(), Action.ACKNOWLEDGE)
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.RESOLUTION_WARNING


def test_customer_reminded_after_two_working_days() -> None:
    friday = datetime(2026, 3, 6, 3, 0, tzinfo=UTC)  # Fri 10:00 local
    s = act(new_complaint(), Action.REQUEST_INFO, at=friday, missing=["phone"], message="m")
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.CUSTOMER_REMINDED
    assert clock.at == datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # Tue 10:00 local: Mon, Tue are the two days
    s = apply_clock(s, clock.event, clock.at).state
    assert s.info_reminders == 1
    clock = next_clock(s)
    assert clock and clock.at == datetime(2026, 3, 12, 3, 0, tzinfo=UTC)


def test_manager_reminded_after_one_working_day() -> None:
    s = act(new_complaint(), Action.ACKNOWLEDGE)
    s = act(s, Action.CAUSE_IDENTIFIED, cause="c", company_at_fault=False)
    friday = datetime(2026, 3, 6, 3, 0, tzinfo=UTC)
    s = act(s, Action.PROPOSE_PLAN, at=friday, plan="p")
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.MANAGER_REMINDED
    assert clock.at == datetime(2026, 3, 9, 3, 0, tzinfo=UTC)  # Mon 10:00 local


def test_reopen_starts_a_new_cycle_with_fresh_clocks() -> None:
    s = act(new_complaint(), Action.RESOLVE_ON_FIRST_CONTACT, resolution="r", customer_agreed=True)
    s = apply_clock(s, ClockEvent.RESOLUTION_WARNING, RECEIVED).state
    s = act(s, Action.CLOSE, summary="s", lessons_learned="l")
    reopened_at = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
    transition = apply_action(s, Action.REOPEN, req(reason="khách không đồng ý"), reopened_at, clocks(reopened_at))
    s = transition.state
    assert s.cycle == 2 and s.stage is Stage.RECEIVED and s.received_at == reopened_at
    assert s.deadlines.first_response_due == reopened_at + timedelta(hours=24)
    assert not s.resolution_warned and s.escalation_level is EscalationLevel.NONE
    assert transition.event.cycle == 2


def test_closed_complaint_archives_after_the_reopen_window() -> None:
    s = act(new_complaint(), Action.RESOLVE_ON_FIRST_CONTACT, resolution="r", customer_agreed=True)
    s = act(s, Action.CLOSE, summary="s", lessons_learned="l")
    clock = next_clock(s)
    assert clock and clock.event is ClockEvent.ARCHIVED


def test_merge_keeps_the_earliest_receipt() -> None:
    primary = new_complaint()
    earlier = RECEIVED - timedelta(days=3)
    s = absorb_duplicate(primary, "c0", earlier, RECEIVED, clocks(earlier)).state
    assert s.received_at == earlier and s.duplicates == ["c0"]
    assert s.deadlines == clocks(earlier).deadlines
    later = RECEIVED + timedelta(days=1)
    s2 = absorb_duplicate(primary, "c2", later, RECEIVED, clocks(later)).state
    assert s2.received_at == RECEIVED and s2.deadlines == primary.deadlines


def test_merged_and_withdrawn_are_final() -> None:
    merged = act(new_complaint(), Action.MERGE_INTO, primary_complaint_id="c9")
    assert merged.stage is Stage.MERGED and merged.merged_into == "c9"
    assert allowed_actions(merged) == [] and next_clock(merged) is None
    withdrawn = act(new_complaint(), Action.WITHDRAW, role=Role.SYSTEM, reason="khách rút")
    assert withdrawn.stage is Stage.WITHDRAWN and next_clock(withdrawn) is None


def test_allowed_actions_by_role() -> None:
    s = act(
        act(new_complaint(), Action.CAUSE_IDENTIFIED, cause="x", company_at_fault=False), Action.PROPOSE_PLAN, plan="p"
    )
    assert Action.MANAGER_APPROVAL in allowed_actions(s, Role.MANAGER)
    assert Action.MANAGER_APPROVAL not in allowed_actions(s, Role.AGENT)


FILE = {"attachment_id": "a" * 32, "name": "hd.pdf", "content_type": "application/pdf", "size": 10, "sha256": "b" * 64}


def test_the_customer_writing_changes_no_stage_and_answers_nothing() -> None:
    """A customer's mail while nothing is asked of them is shown to agents; it is neither a first response nor a
    move: the clocks run on as before."""
    state = new_complaint()
    data = {"text": "Vẫn lỗi.", "subject": "Re: web", "attachments": [FILE]}
    transition = apply_action(state, Action.CUSTOMER_WROTE, req(Role.SYSTEM, **data), RECEIVED)
    assert transition.state.stage is Stage.RECEIVED
    assert transition.state.first_responded_at is None
    assert transition.notifications == []
    assert (transition.event.kind, transition.event.summary) == ("customer_wrote", "the customer wrote")
    assert transition.event.data["attachments"] == [FILE]
    assert next_clock(transition.state) == next_clock(state)


def test_only_a_system_door_records_what_the_customer_wrote() -> None:
    """An agent who hears from the customer adds a note; `customer_wrote` is the customer's own words, from a door."""
    with pytest.raises(ActionRejected) as refused:
        check_action(new_complaint(), Action.CUSTOMER_WROTE, req(Role.AGENT, text="x"))
    assert refused.value.code is Refusal.ROLE_REQUIRED


def test_the_customer_may_write_to_a_closed_complaint_but_not_a_merged_one() -> None:
    closed = new_complaint().model_copy(update={"stage": Stage.CLOSED})
    assert Action.CUSTOMER_WROTE in allowed_actions(closed, Role.SYSTEM)
    merged = new_complaint().model_copy(update={"stage": Stage.MERGED})
    assert Action.CUSTOMER_WROTE not in allowed_actions(merged, Role.SYSTEM)


def test_an_answer_keeps_the_files_it_came_with() -> None:
    state = act(new_complaint(), Action.REQUEST_INFO, missing=["documents"], message="Xin gửi ảnh chụp màn hình.")
    data = {"summary": "Ảnh chụp màn hình đính kèm.", "attachments": [FILE]}
    answered = apply_action(state, Action.CUSTOMER_INFO_RECEIVED, req(Role.SYSTEM, **data), RECEIVED)
    assert answered.state.stage is Stage.ANALYSING
    assert answered.event.data["attachments"] == [FILE]
