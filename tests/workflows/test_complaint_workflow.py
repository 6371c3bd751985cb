"""ComplaintWorkflow end to end on the time-skipping server, with records checked in a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from workflow_support import assert_record_matches, eventually

from activities.queries import ComplaintQueries
from domain.actions import Action, ActionRequest, Role
from domain.intake import IntakeError
from domain.lifecycle import next_clock
from domain.models import EscalationLevel, Stage
from starter.client import ActionFailed, ComplaintClient
from workflows.visibility import CASE_NUMBER, SLA_BREACHED, STAGE

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
MANAGER = {"actor": "manager.hung", "role": Role.MANAGER}


async def test_full_lifecycle(intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, keep_history: Any) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    assert started.case_number.startswith("KN-20")
    assert started.stage is Stage.RECEIVED

    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    await complaints.act(
        cid,
        Action.REQUEST_INFO,
        **AGENT,
        data={"missing": ["contact_person", "documents"], "message": "Xin gửi ảnh chụp lỗi"},
    )
    await complaints.signal(
        cid,
        Action.CUSTOMER_INFO_RECEIVED,
        ActionRequest(
            request_id="mail-1", actor="email-ingest", role=Role.SYSTEM, data={"summary": "khách đã gửi ảnh"}
        ),
    )
    await complaints.act(cid, Action.TRANSFER, **AGENT, data={"to_department": "technical", "reason": "lỗi mạng"})
    await complaints.signal(
        cid,
        Action.CAUSE_IDENTIFIED,
        ActionRequest(
            request_id="noc-1",
            actor="noc",
            role=Role.SYSTEM,
            data={"cause": "switch hỏng", "company_at_fault": True, "departments": ["technical", "network"]},
        ),
    )
    state = await eventually(complaints, cid, lambda s: s.stage is Stage.CAUSE_IDENTIFIED)
    assert state.department == "technical"
    await complaints.act(cid, Action.PROPOSE_PLAN, **AGENT, data={"plan": "thay switch, giảm 1 tháng phí"})
    assert Action.MANAGER_APPROVAL not in await complaints.allowed_actions(cid, Role.AGENT)
    await complaints.act(cid, Action.MANAGER_APPROVAL, **MANAGER, data={"approved": True, "comment": "đồng ý"})
    await complaints.act(cid, Action.SEND_RESOLUTION, **AGENT, data={"reply": "Đã thay switch.", "channels": ["email"]})
    await complaints.act(cid, Action.REPORT_FOLLOWUP, **AGENT, data={"fault": "chậm DNS"})
    answer = await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "xong", "lessons_learned": "dự phòng"})
    state = await complaints.state(cid)
    assert answer == state.without_history(), "an update answers with the state, its history left to the record"

    assert state.stage is Stage.CLOSED
    assert [e.kind for e in state.timeline] == [
        "received",
        "acknowledge",
        "request_info",
        "customer_info_received",
        "transfer",
        "cause_identified",
        "propose_plan",
        "manager_approval",
        "send_resolution",
        "report_followup",
        "close",
    ]
    assert state.timeline[3].door == "signal"
    await assert_record_matches(pool, state)
    documents = {r["kind"] for r in await pool.fetch("SELECT kind FROM documents WHERE complaint_id = $1", cid)}
    assert documents == {"receipt_form", "written_reply", "fix_request"}
    recipients = sorted(
        r["recipient"] + ":" + (r["department"] or "")
        for r in await pool.fetch("SELECT recipient, department FROM outbox WHERE complaint_id = $1", cid)
    )
    # the receipt (it came by e-mail), acknowledge, request_info, send_resolution, report_followup
    assert recipients.count("customer:") == 5
    assert "department:network" in recipients and "department:technical" in recipients
    await keep_history(cid, "full_lifecycle")


async def test_search_attributes_and_details_hold_no_personal_data(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    started = await complaints.start(intake())
    await complaints.act(started.complaint_id, Action.ACKNOWLEDGE, **AGENT)
    description = await complaints.handle(started.complaint_id).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(CASE_NUMBER) == started.case_number
    assert attributes.get(STAGE) == "analysing"
    assert attributes.get(SLA_BREACHED) is False
    shown = " ".join(str(p.value) for p in attributes) + description.id
    for personal in ("Trần Thị Bích", "0912345678", "bich@example.vn", "VPS của tôi"):
        assert personal not in shown


async def test_first_response_missed_escalates_to_supervisor(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment, pool: asyncpg.Pool, keep_history: Any
) -> None:
    started = await complaints.start(intake())
    await time_env.sleep(timedelta(hours=21))
    state = await complaints.state(started.complaint_id)
    assert state.first_response_reminded and not state.first_response_breached
    assert state.timeline[-1].kind == "first_response_reminded"
    await time_env.sleep(timedelta(hours=2))
    state = await complaints.state(started.complaint_id)
    assert not state.first_response_breached
    await time_env.sleep(timedelta(hours=2))
    state = await complaints.state(started.complaint_id)
    assert state.first_response_breached and state.escalation_level is EscalationLevel.SUPERVISOR
    assert state.timeline[-1].kind == "first_response_escalated"
    supervisor = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE complaint_id = $1 AND recipient = 'supervisor'", started.complaint_id
    )
    assert supervisor == 1
    await assert_record_matches(pool, state)
    await complaints.act(started.complaint_id, Action.ACKNOWLEDGE, **AGENT)
    await keep_history(started.complaint_id, "first_response_reminded_then_missed")


async def test_resolution_clock_warns_then_breaches_without_closing(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment, pool: asyncpg.Pool, keep_history: Any
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    deadlines = started.deadlines
    now = await time_env.get_current_time()
    await time_env.sleep(deadlines.resolution_warning_at - now + timedelta(minutes=1))
    state = await complaints.state(cid)
    assert state.resolution_warned and not state.resolution_breached
    assert state.escalation_level is EscalationLevel.DEPARTMENT_HEAD
    now = await time_env.get_current_time()
    await time_env.sleep(deadlines.resolution_due - now + timedelta(minutes=1))
    state = await complaints.state(cid)
    assert state.resolution_breached and state.escalation_level is EscalationLevel.MANAGER
    assert state.stage is Stage.ANALYSING  # a breach never closes a complaint
    assert not state.first_response_breached
    breach = next(e for e in state.timeline if e.kind == "resolution_breached")
    assert breach.at >= deadlines.resolution_due
    assert (await complaints.handle(cid).describe()).typed_search_attributes.get(SLA_BREACHED) is True
    await keep_history(cid, "escalations")
    await assert_record_matches(pool, state)


async def test_a_letter_entered_late_escalates_at_once(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    old = min(await time_env.get_current_time(), datetime.now(UTC)) - timedelta(days=40)
    started = await complaints.start(intake(channel="letter", received_at=old.isoformat()))
    state = await eventually(complaints, started.complaint_id, lambda s: s.resolution_breached)
    assert state.first_response_breached and state.resolution_breached
    assert state.escalation_level is EscalationLevel.MANAGER
    kinds = [e.kind for e in state.timeline]
    assert kinds == [
        "received",
        "first_response_reminded",
        "first_response_escalated",
        "resolution_warning",
        "resolution_breached",
    ]


async def test_rejected_action_says_why_and_changes_nothing(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    with pytest.raises(ActionFailed, match="not allowed while the complaint is received"):
        await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "s", "lessons_learned": "l"})
    with pytest.raises(ActionFailed, match="needs the role manager"):
        await complaints.act(cid, Action.MANAGER_APPROVAL, **AGENT, data={"approved": True})
    with pytest.raises(ActionFailed, match="lessons_learned"):
        await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT, data={"lessons_learned": 1})
    # a signal that breaks the rules is dropped, not applied
    await complaints.signal(
        cid,
        Action.MANAGER_APPROVAL,
        ActionRequest(request_id="x", actor="bot", role=Role.SYSTEM, data={"approved": True}),
    )
    await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "after the signal"})  # queued behind it
    state = await complaints.state(cid)
    assert [e.kind for e in state.timeline] == ["received", "add_note"]
    assert await pool.fetchval("SELECT count(*) FROM complaint_events WHERE complaint_id = $1", cid) == 2


async def test_duplicate_requests_apply_once(intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    again = await complaints.start(intake(complaint_id=cid, subject="another subject"))
    assert again.case_number == started.case_number and again.intake.subject == started.intake.subject
    await asyncio.gather(*(complaints.act(cid, Action.ACKNOWLEDGE, **AGENT, request_id="ack-1") for _ in range(5)))
    await complaints.act(
        cid, Action.REQUEST_INFO, **AGENT, request_id="ri-1", data={"missing": ["phone"], "message": "Số điện thoại?"}
    )
    info = ActionRequest(request_id="mail-42", actor="email-ingest", role=Role.SYSTEM, data={"summary": "0909"})
    for _ in range(3):
        await complaints.signal(cid, Action.CUSTOMER_INFO_RECEIVED, info)
    await eventually(complaints, cid, lambda s: s.stage is Stage.ANALYSING)
    await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "đã gọi lại"})
    state = await complaints.state(cid)
    assert [e.kind for e in state.timeline] == [
        "received",
        "acknowledge",
        "request_info",
        "customer_info_received",
        "add_note",
    ]
    await assert_record_matches(pool, state)
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", cid) == 1


async def test_customer_and_manager_reminders(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    await complaints.act(cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["documents"], "message": "m"})
    await time_env.sleep(timedelta(days=8))  # 2 working days whatever the weekday or holiday
    state = await complaints.state(cid)
    assert state.info_reminders >= 1 and "customer_reminded" in [e.kind for e in state.timeline]
    await complaints.act(cid, Action.CUSTOMER_INFO_RECEIVED, **AGENT, data={"summary": "s"})
    await complaints.act(cid, Action.CAUSE_IDENTIFIED, **AGENT, data={"cause": "c", "company_at_fault": False})
    await complaints.act(cid, Action.PROPOSE_PLAN, **AGENT, data={"plan": "p"})
    await time_env.sleep(timedelta(days=7))  # a working day even across New Year
    state = await complaints.state(cid)
    assert state.approval_reminders >= 1, [(e.kind, e.at.isoformat()) for e in state.timeline]


async def test_reopen_starts_a_new_cycle(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, time_env: WorkflowEnvironment, keep_history: Any
) -> None:
    started = await complaints.start(intake(channel="branch"))
    cid = started.complaint_id
    await complaints.act(
        cid,
        Action.RESOLVE_ON_FIRST_CONTACT,
        **AGENT,
        data={"resolution": "đã hướng dẫn cấu hình", "customer_agreed": True},
    )
    await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "s", "lessons_learned": "l"})
    await time_env.sleep(timedelta(days=3))
    state = await complaints.act(cid, Action.REOPEN, **AGENT, data={"reason": "khách không đồng ý"})
    assert state.cycle == 2 and state.stage is Stage.RECEIVED
    assert state.received_at > started.received_at
    assert state.deadlines.first_response_due == state.received_at + timedelta(hours=24)
    assert state.deadlines.resolution_due > started.deadlines.resolution_due
    assert state.first_responded_at is None
    await assert_record_matches(pool, state)
    docs = {r["kind"] for r in await pool.fetch("SELECT kind FROM documents WHERE complaint_id = $1", cid)}
    assert "resolution_record" in docs
    await keep_history(cid, "reopen")


async def test_closed_complaint_ends_after_the_reopen_window(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment, keep_history: Any
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    await complaints.act(
        cid, Action.RESOLVE_ON_FIRST_CONTACT, **AGENT, data={"resolution": "r", "customer_agreed": True}
    )
    await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "s", "lessons_learned": "l"})
    await time_env.sleep(timedelta(days=29))
    assert (await complaints.handle(cid).describe()).status is WorkflowExecutionStatus.RUNNING
    await time_env.sleep(timedelta(days=2))
    assert (await complaints.handle(cid).describe()).status is WorkflowExecutionStatus.COMPLETED
    assert (await complaints.handle(cid).result()).stage is Stage.CLOSED
    await keep_history(cid, "archived_after_close")
    with pytest.raises(ActionFailed):
        await complaints.act(cid, Action.REOPEN, **AGENT, data={"reason": "too late"})


async def test_merge_keeps_the_earliest_receipt(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, time_env: WorkflowEnvironment, keep_history: Any
) -> None:
    # the test server's clock runs ahead of the wall clock after earlier tests skipped time
    earlier = min(await time_env.get_current_time(), datetime.now(UTC)) - timedelta(days=2)
    duplicate = await complaints.start(intake(channel="email", received_at=earlier.isoformat()))
    primary = await complaints.start(intake(channel="support_ticket"))
    assert primary.received_at > duplicate.received_at
    with pytest.raises(ActionFailed, match="would move its deadlines earlier; only a manager may do that"):
        await complaints.act(
            duplicate.complaint_id, Action.MERGE_INTO, **AGENT, data={"primary_complaint_id": primary.complaint_id}
        )
    assert (await complaints.state(primary.complaint_id)).received_at == primary.received_at
    merged = await complaints.act(
        duplicate.complaint_id, Action.MERGE_INTO, **MANAGER, data={"primary_complaint_id": primary.complaint_id}
    )
    assert merged.stage is Stage.MERGED
    assert (await complaints.handle(duplicate.complaint_id).result()).stage is Stage.MERGED
    now = await time_env.get_current_time()
    # once merged, clocks already past for the earlier receipt fire at once: wait until none is overdue
    state = await eventually(
        complaints,
        primary.complaint_id,
        lambda s: bool(s.duplicates) and ((c := next_clock(s)) is None or c.at > now),
    )
    assert state.duplicates == [duplicate.complaint_id]
    assert state.received_at == duplicate.received_at
    assert state.deadlines.resolution_due == duplicate.deadlines.resolution_due
    await keep_history(primary.complaint_id, "merge_primary")
    await keep_history(duplicate.complaint_id, "merge_duplicate")
    await assert_record_matches(pool, state)


async def test_merge_into_an_unknown_complaint_is_rejected(intake: Any, complaints: ComplaintClient) -> None:
    started = await complaints.start(intake())
    with pytest.raises(ActionFailed, match="is not open"):
        await complaints.act(
            started.complaint_id, Action.MERGE_INTO, **AGENT, data={"primary_complaint_id": uuid.uuid4().hex}
        )
    assert (await complaints.state(started.complaint_id)).stage is Stage.RECEIVED


async def test_records_read_model_lists_it(intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool) -> None:
    started = await complaints.start(intake(department="billing"))
    await complaints.act(started.complaint_id, Action.ACKNOWLEDGE, **AGENT)
    listed = await ComplaintQueries(pool).list_complaints(stage=Stage.ANALYSING, department="billing")
    assert started.complaint_id in [s.complaint_id for s in listed]


async def test_settled_on_the_spot_gets_a_resolution_record_not_a_receipt_form(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    started = await complaints.start(
        intake(
            channel="branch",
            taken_by="agent.lan",
            settled_on_the_spot={"resolution": "Đã đổi mật khẩu cho khách tại quầy", "customer_agreed": True},
        )
    )
    assert started.stage is Stage.ANSWERED
    state = await complaints.state(started.complaint_id)
    assert [(e.kind, e.actor) for e in state.timeline] == [
        ("received", "agent.lan"),
        ("resolve_on_first_contact", "agent.lan"),
    ]
    documents = {
        r["kind"] for r in await pool.fetch("SELECT kind FROM documents WHERE complaint_id = $1", started.complaint_id)
    }
    assert documents == {"resolution_record"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"subject": ""}, "subject"),
        ({"description": "x" * 10_001}, "description"),
        ({"received_at": "2026-03-02T08:00:00"}, "received_at"),
        ({"received_at": "2099-01-01T08:00:00+07:00"}, "received_at"),
        ({"customer": {"name": "Lê Văn C"}}, "customer"),
        ({"customer": {"name": "Lê Văn C", "email": "not-an-email"}}, "customer.email"),
        ({"complaint_id": "someone@example.com"}, "complaint_id"),
        ({"settled_on_the_spot": {"resolution": "r", "customer_agreed": True}}, "settled_on_the_spot"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_intake_names_the_field_and_starts_nothing(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool, overrides: dict[str, Any], field: str
) -> None:
    data = intake(**overrides)
    with pytest.raises(IntakeError) as raised:
        await complaints.start(data)
    assert raised.value.field == field or raised.value.problem.startswith(field) or field in str(raised.value)
    cid = data["complaint_id"]
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", cid) == 0
    with pytest.raises(RPCError):
        await complaints.handle(cid).describe()


async def test_withdrawn_complaint_ends_and_stops_its_clocks(
    intake: Any, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "khách gọi lại"})
    await complaints.signal(
        cid,
        Action.CUSTOMER_INFO_RECEIVED,  # not awaited by anyone: dropped with a warning, not applied
        ActionRequest(request_id="late", actor="email-ingest", role=Role.SYSTEM, data={"summary": "s"}),
    )
    state = await complaints.act(cid, Action.WITHDRAW, **AGENT, data={"reason": "khách rút khiếu nại"})
    assert state.stage is Stage.WITHDRAWN
    result = await complaints.handle(cid).result()
    assert result.stage is Stage.WITHDRAWN and [e.kind for e in result.timeline] == ["received", "add_note", "withdraw"]
    await assert_record_matches(pool, result)
    with pytest.raises(ActionFailed):
        await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "too late"})
    ended_run = (await complaints.handle(cid).describe()).run_id
    again = await complaints.start(intake(complaint_id=cid))
    assert again.stage is Stage.WITHDRAWN and again.case_number == started.case_number, "the same complaint, not new"
    assert (await complaints.handle(cid).describe()).run_id == ended_run, "no new run for an ended complaint"


async def test_search_attributes_are_upserted_only_when_they_change(intake: Any, complaints: ComplaintClient) -> None:
    """A note changes nothing an operator searches by: no upsert, so no history event and no visibility write."""
    cid = (await complaints.start(intake())).complaint_id

    async def upserted() -> list[set[str]]:
        history = await complaints.handle(cid).fetch_history()
        ours = (
            set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
            - {"TemporalChangeVersion"}  # the SDK's own record of the patches a run took
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        )
        return [keys for keys in ours if keys]

    registered = await upserted()
    assert len(registered) == 1 and {"CaseNumber", "ComplaintStage", "ResolutionDue"} <= registered[0]
    for n in range(3):
        await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": f"ghi chú {n}"})
    assert await upserted() == registered
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    assert await upserted() == [*registered, {"ComplaintStage"}]


async def test_the_alarm_is_kept_while_the_clock_moves_later_and_set_again_when_it_comes_earlier(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    """One timer per complaint while actions only push its next clock later; an earlier clock re-arms it on time."""
    cid = (await complaints.start(intake())).complaint_id

    async def timers() -> tuple[int, int]:
        events = (await complaints.handle(cid).fetch_history()).events
        started = sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)
        return started, sum(e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED for e in events)

    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)  # the next clock moves from 22 hours to the warning
    for n in range(3):
        await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": f"ghi chú {n}"})
    assert await timers() == (1, 0), "the first-response alarm is kept: it will ring early and look again"

    await time_env.sleep(timedelta(days=1))  # it rang, found nothing due and was set for the resolution warning
    assert await timers() == (2, 0)
    assert "first_response_reminded" not in [e.kind for e in (await complaints.state(cid)).timeline]

    state = await complaints.act(cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["documents"], "message": "m"})
    due = next_clock(state)
    assert due is not None and due.event.value == "customer_reminded" and due.at < state.deadlines.resolution_warning_at
    assert await timers() == (3, 1), "the reminder comes before the warning: that alarm is cancelled and set again"
    await time_env.sleep(due.at - await time_env.get_current_time() + timedelta(minutes=1))
    reminded = [e for e in (await complaints.state(cid)).timeline if e.kind == "customer_reminded"]
    assert len(reminded) == 1 and abs(reminded[0].at - due.at) < timedelta(seconds=1), (reminded, due)
