"""Mail with the customer on the record (issue 13): the automatic receipt a complaint by mail gets, once however
often its registration runs; the conversation the complaint page shows; where the customer last wrote."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from complaint_builders import CUSTOMER_EMAIL, Complaints
from test_outbox import drain
from test_threaded_mail import SENDER, RecordingSmtp, smtp  # noqa: F401  (the recording SMTP server fixture)

from activities.conversation import ConversationQueries
from activities.outbox import OutboxSender, SmtpTransport
from domain.actions import Action, ActionRequest, Door, Role
from domain.attachments import AttachmentRef
from domain.intake import Channel
from domain.lifecycle import apply_action
from domain.models import ComplaintState

pytestmark = pytest.mark.postgres

CUSTOMER_MAIL_ID = "<CAF=an.1234@mail.example.vn>"
SCREENSHOT = AttachmentRef(
    attachment_id="1" * 32, name="ảnh chụp modem.png", content_type="image/png", size=2048, sha256="a" * 64
)
INVOICE = AttachmentRef(
    attachment_id="2" * 32, name="Hóa đơn tháng 2.pdf", content_type="application/pdf", size=4096, sha256="b" * 64
)


async def customer_rows(pool: asyncpg.Pool, complaint_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT template, subject, body, address FROM outbox WHERE complaint_id = $1 AND recipient = 'customer'"
        " ORDER BY id",
        complaint_id,
    )
    return [dict(row) for row in rows]


async def from_the_mail_door(
    complaints: Complaints, state: ComplaintState, action: Action, data: dict[str, Any]
) -> ComplaintState:
    """What the mail ingress sends: the customer's mail as a system action through door `email`."""
    request = ActionRequest(
        request_id=f"mail-{state.last_seq}", actor="mail", role=Role.SYSTEM, data=data, door=Door.EMAIL
    )
    return await complaints.record(apply_action(state, action, request, state.timeline[-1].at + timedelta(hours=1)))


async def test_a_complaint_by_mail_gets_one_receipt_however_often_it_is_registered(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    request = complaints.request(channel=Channel.EMAIL, message_id=CUSTOMER_MAIL_ID)
    first = await complaints.records.register_complaint(request)
    await complaints.records.register_complaint(request)  # an activity retried
    await asyncio.gather(*(complaints.records.register_complaint(request) for _ in range(4)))  # started 4 more times
    [receipt] = await customer_rows(pool, request.complaint_id)
    state = first.state
    assert receipt["template"] == "receipt" and receipt["address"] == CUSTOMER_EMAIL
    assert receipt["subject"] == f"[{state.case_number}] Đã nhận khiếu nại của Quý khách"
    assert "chậm nhất trong ngày 30/03/2026" in receipt["body"]  # the resolution due date
    assert state.case_number in receipt["body"] and "lúc 02/03/2026 09:00" in receipt["body"]
    snapshot = await complaints.queries.get_snapshot(request.complaint_id)
    assert snapshot is not None and snapshot.first_responded_at is None  # not a first response: staff still owe one


async def test_the_receipt_goes_out_tagged_and_in_the_customers_thread(
    complaints: Complaints,
    pool: asyncpg.Pool,
    smtp: tuple[RecordingSmtp, int],  # noqa: F811
) -> None:
    server, port = smtp
    await drain(pool)
    state = (await complaints.register(channel=Channel.EMAIL, message_id=CUSTOMER_MAIL_ID)).state
    assert await OutboxSender(pool, SmtpTransport("127.0.0.1", port), sender=SENDER).deliver_pending() == 1
    [message] = server.to_customer()
    assert message["Subject"].count(f"[{state.case_number}]") == 1
    assert message["In-Reply-To"] == CUSTOMER_MAIL_ID  # an answer to the customer's own mail


async def test_a_complaint_taken_by_phone_gets_no_receipt_mail(complaints: Complaints, pool: asyncpg.Pool) -> None:
    state = (await complaints.register(channel=Channel.PHONE)).state
    assert await customer_rows(pool, state.complaint_id) == []


async def test_the_conversation_in_and_out_in_order_with_the_files(complaints: Complaints, pool: asyncpg.Pool) -> None:
    conversations = ConversationQueries(pool)
    state = (
        await complaints.register(
            channel=Channel.EMAIL, message_id=CUSTOMER_MAIL_ID, attachments=[SCREENSHOT], subject="Modem mất tín hiệu"
        )
    ).state
    state = await complaints.step(state, Action.ACKNOWLEDGE, {"message": "Chúng tôi đang kiểm tra."})
    state = await complaints.step(
        state, Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin gửi hóa đơn tháng 2."}
    )
    state = await complaints.step(state, Action.ADD_NOTE, {"text": "Gọi lại cho khách."})  # internal: not shown
    state = await from_the_mail_door(
        complaints,
        state,
        Action.CUSTOMER_INFO_RECEIVED,
        {"summary": "Hóa đơn đính kèm <b>đây</b>.", "attachments": [INVOICE.model_dump(mode="json")]},
    )
    state = await from_the_mail_door(
        complaints, state, Action.CUSTOMER_WROTE, {"text": "Vẫn mất tín hiệu.", "subject": "Re: Modem"}
    )

    messages = await conversations.conversation(state.complaint_id)
    outline = [(m.direction, m.kind) for m in messages]
    assert outline == [
        ("in", "received"),
        ("out", "receipt"),
        ("out", "acknowledge"),
        ("out", "request_info"),
        ("in", "customer_info_received"),
        ("in", "customer_wrote"),
    ]
    intake, receipt, _ack, asked, answer, wrote = messages
    assert (intake.subject, intake.attachments, intake.from_customer) == ("Modem mất tín hiệu", [SCREENSHOT], True)
    assert intake.text == "Hóa đơn tháng 2 có khoản phí dịch vụ tôi không đăng ký."
    assert receipt.medium == "email" and receipt.sent_at is None and receipt.subject
    assert "Xin gửi hóa đơn tháng 2." in asked.text
    assert (answer.text, answer.attachments, answer.door) == ("Hóa đơn đính kèm <b>đây</b>.", [INVOICE], "email")
    assert (wrote.subject, wrote.text, wrote.from_customer) == ("Re: Modem", "Vẫn mất tín hiệu.", True)
    assert [m.at for m in messages] == sorted(m.at for m in messages)

    assert [m.kind for m in await conversations.conversation(state.complaint_id, limit=2)] == [
        "customer_info_received",
        "customer_wrote",
    ]  # the latest, oldest first
    await OutboxSender(pool).deliver_pending(batch=1000)  # to the log: sent, no mail server
    sent = [m for m in await conversations.conversation(state.complaint_id) if m.direction == "out"]
    assert all(m.sent_at is not None for m in sent)


async def test_a_complaint_typed_in_by_an_agent_shows_only_what_was_written_since(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    """On the phone the description is the agent's note of the call, shown as such; an answer the agent records
    is theirs too, not the customer's own words."""
    state = (await complaints.register(channel=Channel.PHONE)).state
    state = await complaints.step(state, Action.REQUEST_INFO, {"missing": ["phone"], "message": "Xin số liên hệ."})
    state = await complaints.step(state, Action.CUSTOMER_INFO_RECEIVED, {"summary": "Khách đọc số qua điện thoại."})
    messages = await ConversationQueries(pool).conversation(state.complaint_id)
    assert [(m.direction, m.kind, m.from_customer) for m in messages] == [
        ("out", "request_info", False),
        ("in", "customer_info_received", False),
    ]


async def test_the_snapshot_keeps_where_the_customer_last_wrote(complaints: Complaints, pool: asyncpg.Pool) -> None:
    async def wrote_seq(complaint_id: str) -> int | None:
        value: int | None = await pool.fetchval(
            "SELECT customer_wrote_seq FROM complaints WHERE complaint_id = $1", complaint_id
        )
        return value

    state = (await complaints.register(channel=Channel.EMAIL)).state
    assert await wrote_seq(state.complaint_id) is None
    state = await from_the_mail_door(complaints, state, Action.CUSTOMER_WROTE, {"text": "Còn lỗi."})
    wrote = state.last_seq
    assert await wrote_seq(state.complaint_id) == wrote
    state = await complaints.step(state, Action.ADD_NOTE, {"text": "Đã đọc."})
    state = await complaints.step(state, Action.REQUEST_INFO, {"missing": ["logs"], "message": "Xin nhật ký."})
    state = await complaints.step(state, Action.CUSTOMER_INFO_RECEIVED, {"summary": "Khách gọi điện đọc nhật ký."})
    assert await wrote_seq(state.complaint_id) == wrote  # staff's own entries are no customer mail
    state = await complaints.step(state, Action.REQUEST_INFO, {"missing": ["logs"], "message": "Xin thêm."})
    state = await from_the_mail_door(complaints, state, Action.CUSTOMER_INFO_RECEIVED, {"summary": "Gửi kèm."})
    assert await wrote_seq(state.complaint_id) == state.last_seq
