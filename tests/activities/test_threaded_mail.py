"""Threaded mail out, against a real SMTP server (aiosmtpd) that records the bytes it receives.

The customer's mail program must keep a complaint's messages in one thread: the case number once in the
subject, a stable Message-ID on the company's domain, In-Reply-To / References naming the earlier messages.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import asyncpg
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from complaint_builders import CUSTOMER_EMAIL, CUSTOMER_NAME, Complaints
from test_outbox import drain

from activities.outbox import OutboxSender, SmtpTransport
from domain.actions import Action
from domain.lifecycle import ClockEvent
from domain.models import ComplaintState

SENDER = "Công ty Cổ phần Đám Mây Việt <cskh@example.vn>"


@dataclass
class RecordingSmtp:
    """An aiosmtpd handler that keeps each message's raw bytes, as the wire carried them."""

    received: list[bytes] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(envelope.content)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def parsed(self) -> list[EmailMessage]:
        messages = [email.message_from_bytes(raw, policy=email.policy.default) for raw in self.received]
        return [m for m in messages if isinstance(m, EmailMessage)]

    def to_customer(self) -> list[EmailMessage]:
        return [m for m in self.parsed() if m["To"].addresses[0].addr_spec == CUSTOMER_EMAIL]


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[RecordingSmtp, int]]:

    handler = RecordingSmtp()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(handler, hostname="mx.test"), "127.0.0.1", 0)
    try:
        yield handler, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def three_customer_messages(complaints: Complaints) -> ComplaintState:
    """Acknowledge, request information, remind: three messages to the customer about one complaint."""
    state = (await complaints.register()).state
    state = await complaints.step(state, Action.ACKNOWLEDGE, {"message": "Chúng tôi đang kiểm tra."})
    state = await complaints.step(
        state, Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin gửi hóa đơn tháng 2."}
    )
    return await complaints.record(complaints.clock(state, ClockEvent.CUSTOMER_REMINDED))


async def test_headers_subject_tag_and_vietnamese_encoding(
    complaints: Complaints, pool: asyncpg.Pool, smtp: tuple[RecordingSmtp, int]
) -> None:
    server, port = smtp
    await drain(pool)
    state = (await complaints.register()).state
    state = await complaints.step(state, Action.ACKNOWLEDGE)
    sender = OutboxSender(pool, SmtpTransport("127.0.0.1", port), sender=SENDER)
    assert await sender.deliver_pending() == 1

    [raw] = server.received
    assert raw.isascii()  # every Vietnamese header and the body travel encoded (RFC 2047, quoted-printable)
    assert b"=?utf-8?" in raw
    [message] = server.parsed()
    tag = f"[{state.case_number}]"
    assert message["Subject"] == f"{tag} Xác nhận tiếp nhận khiếu nại"
    assert message["Subject"].count(tag) == 1
    assert message["From"].addresses[0].display_name == "Công ty Cổ phần Đám Mây Việt"
    assert message["From"].addresses[0].addr_spec == "cskh@example.vn"
    assert message["To"].addresses[0].display_name == CUSTOMER_NAME
    assert server.recipients == [[CUSTOMER_EMAIL]]
    message_id = message["Message-ID"]
    assert message_id.startswith("<outbox-") and message_id.endswith("@example.vn>")
    assert state.complaint_id not in message_id  # a caller's key may be anything: only its digest is used
    assert message["In-Reply-To"] is None and message["References"] is None  # the first of its thread
    assert CUSTOMER_NAME in message.get_content()
    [row] = await complaints.queries.outbox(state.complaint_id)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT message_id FROM outbox WHERE id = $1", row["id"]) == message_id


async def test_three_messages_of_one_complaint_form_one_thread(
    complaints: Complaints, pool: asyncpg.Pool, smtp: tuple[RecordingSmtp, int]
) -> None:
    server, port = smtp
    await drain(pool)
    sender = OutboxSender(pool, SmtpTransport("127.0.0.1", port), sender=SENDER)
    state = (await complaints.register()).state
    state = await complaints.step(state, Action.ACKNOWLEDGE, {"message": "Chúng tôi đang kiểm tra."})
    assert await sender.deliver_pending() == 1  # each goes out on its own round, as in life
    state = await complaints.step(
        state, Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin gửi hóa đơn tháng 2."}
    )
    assert await sender.deliver_pending() == 1
    await complaints.record(complaints.clock(state, ClockEvent.CUSTOMER_REMINDED))
    assert await sender.deliver_pending() == 1

    first, second, third = server.to_customer()
    ids = [m["Message-ID"] for m in (first, second, third)]
    assert len(set(ids)) == 3
    assert first["In-Reply-To"] is None
    assert second["In-Reply-To"] == ids[0] and second["References"] == ids[0]
    assert third["In-Reply-To"] == ids[1] and third["References"].split() == ids[:2]
    assert all(m["Subject"].count(f"[{state.case_number}]") == 1 for m in (first, second, third))


async def test_messages_sent_in_one_round_still_thread(
    complaints: Complaints, pool: asyncpg.Pool, smtp: tuple[RecordingSmtp, int]
) -> None:
    server, port = smtp
    await drain(pool)
    await three_customer_messages(complaints)
    assert await OutboxSender(pool, SmtpTransport("127.0.0.1", port), sender=SENDER).deliver_pending() == 3
    first, second, third = server.to_customer()
    assert third["References"].split() == [first["Message-ID"], second["Message-ID"]]


async def test_the_customers_first_mail_is_the_root_of_the_thread(
    complaints: Complaints, pool: asyncpg.Pool, smtp: tuple[RecordingSmtp, int]
) -> None:
    """The hook the mail ingress will fill: `complaints.customer_message_id`."""
    server, port = smtp
    await drain(pool)
    state = (await complaints.register()).state
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE complaints SET customer_message_id = $2 WHERE complaint_id = $1",
            state.complaint_id,
            "<first@customer.example>",
        )
    await complaints.step(state, Action.ACKNOWLEDGE)
    assert await OutboxSender(pool, SmtpTransport("127.0.0.1", port), sender=SENDER).deliver_pending() == 1
    [message] = server.to_customer()
    assert message["In-Reply-To"] == "<first@customer.example>"
    assert message["References"] == "<first@customer.example>"


@dataclass
class LostAfterSending:
    """The real SMTP transport, but the connection drops after the server took the message (before the row is
    marked): the worst moment for a crash."""

    inner: SmtpTransport
    losses: int = 1
    name: str = "smtp"

    async def send(self, message: EmailMessage) -> None:
        await self.inner.send(message)
        if self.losses:
            self.losses -= 1
            raise ConnectionResetError("connection lost after DATA")


async def test_a_resend_after_a_crash_keeps_its_message_id(
    complaints: Complaints, pool: asyncpg.Pool, smtp: tuple[RecordingSmtp, int]
) -> None:
    server, port = smtp
    await drain(pool)
    state = (await complaints.register()).state
    await complaints.step(state, Action.ACKNOWLEDGE)
    sender = OutboxSender(pool, LostAfterSending(SmtpTransport("127.0.0.1", port)), sender=SENDER)
    assert await sender.deliver_pending() == 0
    [row] = await complaints.queries.outbox(state.complaint_id)
    assert row["sent_at"] is None
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", row["id"])
    assert await sender.deliver_pending() == 1
    assert await sender.deliver_pending() == 0  # sent once marked: never again

    first, again = server.parsed()
    assert first["Message-ID"] == again["Message-ID"]  # the recipient's mail system sees one message
    assert first["Subject"] == again["Subject"]
