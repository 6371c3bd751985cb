"""The record activities against a real PostgreSQL: case numbers, idempotent transitions, documents, messages."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
import structlog
from complaint_builders import (
    CASE_LINKS,
    CUSTOMER_EMAIL,
    CUSTOMER_NAME,
    CUSTOMER_PHONE,
    PERSONAL_DATA,
    RECEIVED,
    SETTINGS,
    Complaints,
)
from temporalio.testing import ActivityEnvironment

from activities.documents import DOCUMENT_TITLES
from activities.records import (
    ComplaintRecords,
    cycle_clocks,
    format_case_number,
)
from domain.actions import Action, Role
from domain.calendar import BUSINESS_TZ, WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.fields import CASE_NUMBER_PATTERN
from domain.intake import Customer
from domain.lifecycle import RULES, ClockEvent
from domain.models import ComplaintState, DocumentKind, Stage, TransitionRecord

CASE_NUMBER = re.compile(r"KN-(\d{4})-(\d{6})")


async def count(pool: asyncpg.Pool, table: str, complaint_id: str) -> int:
    async with pool.acquire() as conn:
        result: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE complaint_id = $1", complaint_id)
    return result


async def counts(pool: asyncpg.Pool, complaint_id: str) -> tuple[int, int, int]:
    """(events, outbox rows, documents) of one complaint."""
    return (
        await count(pool, "complaint_events", complaint_id),
        await count(pool, "outbox", complaint_id),
        await count(pool, "documents", complaint_id),
    )


def case_sequence(case_number: str) -> int:
    match = CASE_NUMBER.fullmatch(case_number)
    assert match, case_number
    return int(match.group(2))


# ---- case numbers and registration ----


def test_case_number_uses_the_local_year() -> None:
    assert format_case_number(datetime(2026, 5, 4, 3, 0, tzinfo=UTC), 123) == "KN-2026-000123"
    # 17:30 UTC on New Year's Eve is 00:30 on 1 January in Ho Chi Minh City.
    assert format_case_number(datetime(2026, 12, 31, 17, 30, tzinfo=UTC), 7) == "KN-2027-000007"
    assert format_case_number(datetime(2026, 12, 31, 16, 59, tzinfo=UTC), 7) == "KN-2026-000007"
    assert format_case_number(RECEIVED, 1_234_567) == "KN-2026-1234567"
    # Every number issued is one the web form's search and the domain recognise as a case number.
    assert all(CASE_NUMBER_PATTERN.fullmatch(format_case_number(RECEIVED, n)) for n in (1, 999_999, 1_234_567))


async def test_register_allocates_a_case_number_and_records_the_receipt(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    transition = await complaints.register()
    state = transition.state
    assert CASE_NUMBER.fullmatch(state.case_number)
    assert state.case_number.startswith("KN-2026-")
    assert transition.event.seq == 1 and transition.event.kind == "received"
    assert transition.documents == [DocumentKind.RECEIPT_FORM]
    assert await counts(pool, state.complaint_id) == (1, 0, 1)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM complaints WHERE complaint_id = $1", state.complaint_id)
    assert row is not None
    assert row["case_number"] == state.case_number
    assert row["workflow_id"] == f"complaint-{state.complaint_id}"
    assert row["stage"] == "received" and row["last_seq"] == 1 and row["cycle"] == 1
    assert row["resolution_due_date"] == state.deadlines.resolution_due_date
    assert row["customer"] == {
        "name": CUSTOMER_NAME,
        "phone": CUSTOMER_PHONE,
        "email": CUSTOMER_EMAIL,
        "address": "12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội",
    }
    assert ComplaintState.model_validate(row["state"]) == state.without_history()


async def test_a_receipt_after_local_midnight_on_new_years_eve_is_numbered_in_the_new_year(
    complaints: Complaints,
) -> None:
    transition = await complaints.register(received_at=datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    assert transition.state.case_number.startswith("KN-2027-")


async def test_register_twice_returns_the_same_complaint(complaints: Complaints, pool: asyncpg.Pool) -> None:
    request = complaints.request()
    first = await complaints.records.register_complaint(request)
    # A retry, and a second start with the same id but other details, a minute later.
    again = await complaints.records.register_complaint(request)
    other = complaints.request(
        complaint_id=request.complaint_id, now=RECEIVED + timedelta(minutes=1), subject="Một tiêu đề khác"
    )
    second_start = await complaints.records.register_complaint(other)
    assert again == first
    assert second_start == first
    assert await counts(pool, request.complaint_id) == (1, 0, 1)
    following = await complaints.register()
    assert case_sequence(following.state.case_number) == case_sequence(first.state.case_number) + 1


async def test_concurrent_registrations_allocate_one_case_number(complaints: Complaints, pool: asyncpg.Pool) -> None:
    request = complaints.request()
    results = await asyncio.gather(*(complaints.records.register_complaint(request) for _ in range(6)))
    assert len({result.state.case_number for result in results}) == 1
    assert all(result == results[0] for result in results)
    assert await counts(pool, request.complaint_id) == (1, 0, 1)
    following = await complaints.register()
    assert case_sequence(following.state.case_number) == case_sequence(results[0].state.case_number) + 1


async def test_a_retry_keeps_the_deadlines_promised_even_if_the_calendar_changed(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    request = complaints.request()
    first = await complaints.records.register_complaint(request)
    changed = WorkingCalendar(extra_days_off=frozenset({date(2026, 3, 4), date(2026, 3, 5)}))
    retried = await ComplaintRecords(pool, changed, SETTINGS).register_complaint(request)
    assert retried.state.deadlines == first.state.deadlines
    assert compute_deadlines(RECEIVED, changed) != first.state.deadlines


async def test_a_new_run_of_a_complaint_that_moved_on_gets_its_current_state(complaints: Complaints) -> None:
    request = complaints.request()
    state = (await complaints.records.register_complaint(request)).state
    state = await complaints.step(state, Action.ACKNOWLEDGE)
    again = await complaints.records.register_complaint(request)
    assert again.state.without_history() == state.without_history()
    assert again.state.last_seq == 2 and again.state.timeline == [state.timeline[-1]]
    assert again.event == state.timeline[-1]
    assert again.notifications == [] and again.documents == []


async def test_clocks_cover_the_window_with_working_days(records: ComplaintRecords) -> None:
    clocks = await records.compute_cycle_clocks(RECEIVED)
    assert clocks == cycle_clocks(RECEIVED, WorkingCalendar())
    assert clocks.deadlines == compute_deadlines(RECEIVED, WorkingCalendar())
    # Hand-checked: 20 working days after Monday 2 March 2026 (no holiday in March) is Monday 30 March.
    assert clocks.deadlines.resolution_due_date == date(2026, 3, 30)
    days = clocks.working_days
    assert days[0] == date(2026, 3, 2)
    assert days == sorted(days) and all(d.weekday() < 5 for d in days)
    assert clocks.deadlines.resolution_due_date in days
    assert days[-1] <= clocks.deadlines.resolution_due_date + timedelta(days=60)
    assert days[-1] >= clocks.deadlines.resolution_due_date + timedelta(days=56)
    assert date(2026, 4, 30) not in days and date(2026, 5, 1) not in days  # Reunification Day, Labour Day


async def test_register_starts_the_receipt_on_a_weekend_from_its_local_date(records: ComplaintRecords) -> None:
    saturday_evening = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    clocks = await records.compute_cycle_clocks(saturday_evening)
    assert clocks.working_days[0] == date(2026, 3, 9)
    assert saturday_evening.astimezone(BUSINESS_TZ).date() == date(2026, 3, 7)


# ---- recording transitions ----


async def test_record_transition_twice_writes_once(complaints: Complaints, pool: asyncpg.Pool) -> None:
    state = (await complaints.register()).state
    state = await complaints.step(state, Action.ACKNOWLEDGE)
    state = await complaints.step(
        state,
        Action.CAUSE_IDENTIFIED,
        {"cause": "Lỗi cấu hình gói cước", "company_at_fault": True, "departments": ["billing", "network"]},
    )
    state = await complaints.step(state, Action.PROPOSE_PLAN, {"plan": "Hoàn lại phí và sửa cấu hình"})
    state = await complaints.step(state, Action.MANAGER_APPROVAL, {"approved": True}, role=Role.MANAGER)
    reply = complaints.act(state, Action.SEND_RESOLUTION, {"reply": "Chúng tôi hoàn lại 50.000 đồng."})
    assert len(reply.notifications) == 3 and len(reply.documents) == 2

    for _ in range(3):
        await complaints.record(reply)
    assert await counts(pool, state.complaint_id) == (6, 1 + 3, 1 + 2)
    snapshot = await complaints.queries.get_snapshot(state.complaint_id)
    assert snapshot == reply.state.without_history()
    assert snapshot is not None and snapshot.stage is Stage.ANSWERED


async def test_the_same_event_at_another_instant_answers_the_recorded_instant(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    """The write runs as a local activity: a worker killed before Temporal heard of its workflow task leaves a write
    history does not have, and the replay decides the same action at a later instant. The timeline is append-only:
    the record answers with the instant it holds (the workflow takes it), and writes nothing twice."""
    state = (await complaints.register()).state
    lost = complaints.act(state, Action.ACKNOWLEDGE)
    assert await complaints.records.record_transition(TransitionRecord(workflow_id="w", transition=lost)) is None
    replayed = complaints.act(state, Action.ACKNOWLEDGE, after=timedelta(hours=2))
    again = TransitionRecord(workflow_id="w", transition=replayed)
    assert await complaints.records.record_transition(again) == lost.event.at
    assert await counts(pool, state.complaint_id) == (2, len(lost.notifications), 1)
    other = complaints.act(state, Action.REQUEST_INFO, {"missing": ["phone"], "message": "Xin số điện thoại"})
    assert await complaints.records.record_transition(TransitionRecord(workflow_id="w", transition=other)) is None


async def test_concurrent_retries_write_once(complaints: Complaints, pool: asyncpg.Pool) -> None:
    state = (await complaints.register()).state
    transition = complaints.act(state, Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin gửi hóa đơn."})
    await asyncio.gather(*(complaints.record(transition) for _ in range(5)))
    assert await counts(pool, state.complaint_id) == (2, 1, 1)


async def test_a_stale_retry_does_not_move_the_snapshot_back(complaints: Complaints, pool: asyncpg.Pool) -> None:
    state = (await complaints.register()).state
    acknowledged = complaints.act(state, Action.ACKNOWLEDGE)
    asked = complaints.act(
        acknowledged.state, Action.REQUEST_INFO, {"missing": ["phone"], "message": "Xin số điện thoại liên hệ."}
    )
    await complaints.record(acknowledged)
    await complaints.record(asked)
    await complaints.record(acknowledged)  # a late retry of the older transition
    snapshot = await complaints.queries.get_snapshot(state.complaint_id)
    assert snapshot == asked.state.without_history()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT last_seq, stage FROM complaints WHERE complaint_id = $1", state.complaint_id)
    assert row is not None and (row["last_seq"], row["stage"]) == (3, "awaiting_customer")


async def test_an_older_transition_recorded_late_still_lands_in_the_timeline(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    """An attempt that timed out may commit after the next transition: its event and messages still count."""
    state = (await complaints.register()).state
    acknowledged = complaints.act(state, Action.ACKNOWLEDGE)
    asked = complaints.act(
        acknowledged.state, Action.REQUEST_INFO, {"missing": ["phone"], "message": "Xin số điện thoại liên hệ."}
    )
    await complaints.record(asked)
    await complaints.record(acknowledged)
    assert await complaints.queries.get_snapshot(state.complaint_id) == asked.state.without_history()
    assert [event.seq for event in await complaints.queries.timeline(state.complaint_id)] == [1, 2, 3]
    assert await counts(pool, state.complaint_id) == (3, 2, 1)


async def test_the_timeline_is_append_only(complaints: Complaints, pool: asyncpg.Pool) -> None:
    state = (await complaints.register()).state
    async with pool.acquire() as conn:
        for statement in (
            "UPDATE complaint_events SET summary = 'changed' WHERE complaint_id = $1",
            "DELETE FROM complaint_events WHERE complaint_id = $1",
        ):
            with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
                await conn.execute(statement, state.complaint_id)
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            await conn.execute("TRUNCATE complaint_events CASCADE")
    timeline = await complaints.queries.timeline(state.complaint_id)
    assert timeline == state.timeline


async def test_record_transition_runs_as_an_activity(complaints: Complaints, pool: asyncpg.Pool) -> None:
    state = (await complaints.register()).state
    transition = complaints.act(state, Action.ACKNOWLEDGE)
    record = TransitionRecord(workflow_id=f"complaint-{state.complaint_id}", transition=transition)
    with structlog.testing.capture_logs() as logs:
        await ActivityEnvironment().run(complaints.records.record_transition, record)
        await ActivityEnvironment().run(complaints.records.record_transition, record)
    assert await counts(pool, state.complaint_id) == (2, 1, 1)
    assert [entry["event"] for entry in logs] == ["transition recorded", "transition already recorded"]
    assert all(entry["workflow_id"] == "test" and entry["complaint_id"] == state.complaint_id for entry in logs)


# ---- messages and documents ----


async def test_the_receipt_form_is_rendered_in_vietnamese(complaints: Complaints) -> None:
    state = (await complaints.register(subject='Cước <b>sai</b> & "phí lạ"')).state
    [document] = await complaints.queries.documents(state.complaint_id)
    assert document["kind"] == "receipt_form" and document["cycle"] == 1 and document["event_seq"] == 1
    assert document["title"] == "PHIẾU TIẾP NHẬN KHIẾU NẠI"
    html = document["body"]
    assert "PHIẾU TIẾP NHẬN KHIẾU NẠI" in html
    assert f"Số: {state.case_number}" in html
    assert "02/03/2026 09:00" in html  # receipt, local time
    assert "03/03/2026 09:00" in html  # first response due, 24 hours later
    assert "24:00 ngày 30/03/2026" in html  # resolution due date
    assert CUSTOMER_NAME in html and CUSTOMER_PHONE in html and CUSTOMER_EMAIL in html
    assert "đường dây nóng" in html  # the channel, in Vietnamese
    assert "<b>sai</b>" not in html and "Cước &lt;b&gt;sai&lt;/b&gt; &amp; &#34;phí lạ&#34;" in html


async def test_every_message_and_document_of_a_full_lifecycle_renders(complaints: Complaints) -> None:
    records, queries = complaints.records, complaints.queries
    state = (await complaints.register()).state
    state = await complaints.record(complaints.clock(state, ClockEvent.FIRST_RESPONSE_ESCALATED))
    state = await complaints.step(
        state, Action.REQUEST_INFO, {"missing": ["documents", "phone"], "message": "Xin gửi ảnh hóa đơn."}
    )
    state = await complaints.record(complaints.clock(state, ClockEvent.CUSTOMER_REMINDED))
    state = await complaints.step(
        state, Action.CUSTOMER_INFO_RECEIVED, {"summary": "Đã nhận ảnh hóa đơn"}, role=Role.SYSTEM
    )
    state = await complaints.step(state, Action.TRANSFER, {"to_department": "billing", "reason": "Sai cước"})
    state = await complaints.step(state, Action.REPORT_FOLLOWUP, {"fault": "Tin nhắn báo cước cũng gửi sai"})
    state = await complaints.step(
        state,
        Action.CAUSE_IDENTIFIED,
        {"cause": "Gói cước bị cấu hình trùng", "company_at_fault": True, "departments": ["billing", "network"]},
    )
    state = await complaints.step(state, Action.PROPOSE_PLAN, {"plan": "Hoàn phí, sửa cấu hình gói"})
    state = await complaints.record(complaints.clock(state, ClockEvent.MANAGER_REMINDED))
    state = await complaints.record(complaints.clock(state, ClockEvent.RESOLUTION_WARNING))
    state = await complaints.step(
        state, Action.MANAGER_APPROVAL, {"approved": True, "comment": "Đồng ý"}, role=Role.MANAGER
    )
    state = await complaints.record(complaints.clock(state, ClockEvent.RESOLUTION_BREACHED))
    state = await complaints.step(state, Action.SEND_RESOLUTION, {"reply": "Hoàn lại 50.000 đồng vào tài khoản."})
    state = await complaints.step(state, Action.CLOSE, {"summary": "Đã hoàn phí", "lessons_learned": "Kiểm tra gói"})
    reopened_at = state.timeline[-1].at + timedelta(days=2)
    new_cycle = await records.compute_cycle_clocks(reopened_at)
    state = await complaints.step(
        state, Action.REOPEN, {"reason": "Chưa nhận tiền"}, after=timedelta(days=2), new_cycle=new_cycle
    )
    state = await complaints.step(state, Action.ACKNOWLEDGE, {"message": "Chúng tôi kiểm tra lại ngay."})
    state = await complaints.step(
        state, Action.RESOLVE_ON_FIRST_CONTACT, {"resolution": "Đã chuyển khoản lại", "customer_agreed": True}
    )

    assert await queries.get_snapshot(state.complaint_id) == state.without_history()
    assert await queries.timeline(state.complaint_id) == state.timeline

    messages = await queries.outbox(state.complaint_id)
    expected_templates = {action.value for action, rule in RULES.items() if rule.messages_customer} | {
        "transfer",
        "fix_request",
        "first_response_missed",
        "resolution_warning",
        "resolution_breached",
        "info_reminder",
        "approval_reminder",
    }
    assert {m["template"] for m in messages} == expected_templates
    addresses = {(m["recipient"], m["department"], m["template"]): m["address"] for m in messages}
    assert addresses[("customer", None, "request_info")] == CUSTOMER_EMAIL
    assert addresses[("supervisor", None, "first_response_missed")] == "supervisor@localhost"
    # the department mailboxes are the company profile's (tests/activities/complaint_builders.py)
    assert addresses[("department_head", "billing", "resolution_warning")] == "truong-tinh-cuoc@example.vn"
    assert addresses[("manager", None, "resolution_breached")] == "manager@localhost"
    assert addresses[("department", "network", "fix_request")] == "mang-luoi@example.vn"
    assert addresses[("department", "billing", "transfer")] == "tinh-cuoc@example.vn"
    for message in messages:
        text = message["subject"] + message["body"]
        assert message["subject"].startswith(f"[{state.case_number}] "), message["subject"]
        assert "\n" not in message["subject"]
        assert "{{" not in text and "{%" not in text
        if message["recipient"] == "customer":
            assert message["body"].startswith(f"Kính gửi Quý khách {CUSTOMER_NAME},")
            token = re.search(r"/portal/c/(\S+) \(liên kết", message["body"])
            assert token is not None, message["template"]  # every letter opens the complaint in the portal
            assert CASE_LINKS.read(token[1], now=RECEIVED) == state.complaint_id
        else:  # staff messages point to the record, they do not copy the customer's details
            assert not any(item in text for item in PERSONAL_DATA), message["template"]
            assert "/portal/" not in text, message["template"]
            assert "billing" not in text and "network" not in text, "staff read department names, not codes"
    request_info = next(m for m in messages if m["template"] == "request_info")
    assert "tài liệu, chứng từ liên quan" in request_info["body"] and "Xin gửi ảnh hóa đơn." in request_info["body"]
    reminder = next(m for m in messages if m["template"] == "info_reminder")
    assert "số điện thoại" in reminder["body"]

    documents = {(d["kind"], d["cycle"]): d for d in await queries.documents(state.complaint_id)}
    assert set(documents) == {("receipt_form", 1), ("written_reply", 1), ("fix_request", 1), ("resolution_record", 2)}
    for (kind, _cycle), document in documents.items():
        assert document["title"] == DOCUMENT_TITLES[DocumentKind(kind)]
        assert document["title"] in document["body"] and state.case_number in document["body"]
    reply = documents[("written_reply", 1)]["body"]
    assert "VĂN BẢN TRẢ LỜI KHIẾU NẠI" in reply and "Hoàn lại 50.000 đồng vào tài khoản." in reply
    assert CUSTOMER_NAME in reply and "Gói cước bị cấu hình trùng" in reply and "24:00 ngày 30/03/2026" in reply
    fix = documents[("fix_request", 1)]["body"]
    assert "YÊU CẦU KHẮC PHỤC" in fix and "bộ phận Tính cước, bộ phận Mạng lưới" in fix
    for body in (reply, fix):
        assert "Công ty Cổ phần Viễn thông Thử nghiệm" in body and "Số 1 Phố Thử, Hà Nội" in body
        assert "Bộ phận: Tính cước" in body and "billing" not in body and "network" not in body
    assert not any(item in fix for item in PERSONAL_DATA)
    record = documents[("resolution_record", 2)]["body"]
    assert "BIÊN BẢN GIẢI QUYẾT KHIẾU NẠI" in record and "Đã chuyển khoản lại" in record and CUSTOMER_NAME in record
    due_2 = new_cycle.deadlines.resolution_due_date.strftime("%d/%m/%Y")
    assert f"24:00 ngày {due_2}" in record


async def test_a_customer_without_email_is_reached_by_phone(complaints: Complaints) -> None:
    state = (await complaints.register(customer=Customer(name=CUSTOMER_NAME, phone=CUSTOMER_PHONE))).state
    state = await complaints.step(state, Action.ACKNOWLEDGE)
    [message] = await complaints.queries.outbox(state.complaint_id)
    assert (message["medium"], message["address"]) == ("phone", CUSTOMER_PHONE)


async def test_logs_of_recording_carry_no_personal_data(complaints: Complaints) -> None:
    with structlog.testing.capture_logs() as logs:
        state = (await complaints.register()).state
        await complaints.step(state, Action.ACKNOWLEDGE)
        await complaints.step(state, Action.ACKNOWLEDGE)  # same seq again: "already recorded"
    assert logs
    text = repr(logs)
    assert not any(item in text for item in PERSONAL_DATA)
