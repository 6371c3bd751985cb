"""The outbox sender: delivers each queued message, marks it sent, retries failures, logs no personal data."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import SimpleNamespace

import asyncpg
import pytest
import structlog
from complaint_builders import CUSTOMER_EMAIL, CUSTOMER_NAME, PERSONAL_DATA, Complaints

from activities.outbox import OutboxSender, SmtpTransport
from domain.actions import Action
from domain.lifecycle import ClockEvent
from domain.models import ComplaintState
from starter.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def no_smtp_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMPLAINTS_SMTP_HOST", "COMPLAINTS_SMTP_PORT", "COMPLAINTS_SMTP_SECURITY", "COMPLAINTS_SMTP_SENDER"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class RecordingTransport:
    """Captures what would be sent; fails while `failures` is positive, the way a refusing server does."""

    name: str = "recording"
    sent: list[EmailMessage] = field(default_factory=list)
    failures: int = 0
    delay: float = 0.0

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError(f"550 mailbox {message['To']} unavailable")
        self.sent.append(message)


async def pending_and_sent(pool: asyncpg.Pool, complaint_id: str) -> tuple[int, int]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE sent_at IS NULL) AS pending, count(sent_at) AS sent "
            "FROM outbox WHERE complaint_id = $1",
            complaint_id,
        )
    assert row is not None
    return row["pending"], row["sent"]


async def drain(pool: asyncpg.Pool) -> None:
    """Mark every earlier test's rows sent, so each test counts only its own deliveries."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET sent_at = now(), delivered_via = 'drained' WHERE sent_at IS NULL")


async def acknowledged_and_escalated(complaints: Complaints) -> ComplaintState:
    """One customer message (acknowledge) and one staff message (the supervisor, first response late)."""
    state = (await complaints.register()).state
    state = await complaints.record(complaints.clock(state, ClockEvent.FIRST_RESPONSE_ESCALATED))
    return await complaints.step(state, Action.ACKNOWLEDGE, {"message": "Chúng tôi đang kiểm tra."})


async def test_without_smtp_messages_go_to_the_log_without_personal_data(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    await drain(pool)
    state = await acknowledged_and_escalated(complaints)
    settings = Settings()
    sender = OutboxSender(pool, settings.smtp_transport(), sender=settings.smtp_sender)
    with structlog.testing.capture_logs() as logs:
        assert await sender.deliver_pending() == 2
        assert await sender.deliver_pending() == 0
    assert await pending_and_sent(pool, state.complaint_id) == (0, 2)
    rows = await complaints.queries.outbox(state.complaint_id)
    assert all(row["delivered_via"] == "log" and row["attempts"] == 1 for row in rows)
    assert {row["recipient"] for row in rows} == {"customer", "supervisor"}

    assert logs
    text = repr(logs)
    assert not any(item in text for item in PERSONAL_DATA)
    for row in rows:  # the message texts (which greet the customer by name) stay in Postgres
        assert row["subject"] not in text
    delivered = [entry for entry in logs if entry["event"] == "outbox message delivered"]
    assert {(e["complaint_id"], e["template"], e["recipient"]) for e in delivered} == {
        (state.complaint_id, "acknowledge", "customer"),
        (state.complaint_id, "first_response_missed", "supervisor"),
    }
    assert all(
        set(e) <= {"event", "log_level", "outbox_id", "complaint_id", "template", "recipient", "via", "medium"}
        for e in logs
    )


async def test_a_failed_delivery_is_counted_and_retried_later(complaints: Complaints, pool: asyncpg.Pool) -> None:
    await drain(pool)
    state = (await complaints.register()).state
    state = await complaints.step(state, Action.ACKNOWLEDGE)
    transport = RecordingTransport(failures=1)
    sender = OutboxSender(pool, transport=transport)
    with structlog.testing.capture_logs() as logs:
        assert await sender.deliver_pending() == 0
    [row] = await complaints.queries.outbox(state.complaint_id)
    assert row["sent_at"] is None and row["attempts"] == 1
    assert row["last_error"].startswith("ConnectionRefusedError: 550 mailbox")
    assert not any(item in repr(logs) for item in PERSONAL_DATA)
    assert [e["error"] for e in logs if e["event"] == "outbox delivery failed"] == ["ConnectionRefusedError"]
    assert await sender.pending() == 1  # the backlog the worker exports

    assert await sender.deliver_pending() == 0  # not due yet: it waits before the next attempt
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", row["id"])
    assert await sender.deliver_pending() == 1
    [row] = await complaints.queries.outbox(state.complaint_id)
    assert row["sent_at"] is not None and row["attempts"] == 2 and row["last_error"] is None
    assert await sender.pending() == 0
    assert row["delivered_via"] == "recording"
    [message] = transport.sent
    assert message["To"].addresses[0].addr_spec == CUSTOMER_EMAIL  # named: "Nguyễn Thị Hoa <hoa.nguyen@…>"
    assert message["Subject"] == row["subject"]
    assert message.get_content().startswith(f"Kính gửi Quý khách {CUSTOMER_NAME},")


async def test_a_message_that_keeps_failing_stops_after_max_attempts(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    await drain(pool)
    state = await complaints.step((await complaints.register()).state, Action.ACKNOWLEDGE)
    sender = OutboxSender(pool, transport=RecordingTransport(failures=100), max_attempts=2)
    for _ in range(3):
        await sender.deliver_pending()
        async with pool.acquire() as conn:
            await conn.execute("UPDATE outbox SET next_attempt_at = now() WHERE sent_at IS NULL")
    [row] = await complaints.queries.outbox(state.complaint_id)
    assert row["attempts"] == 2 and row["sent_at"] is None
    assert await sender.pending() == 0  # given up on: no longer a backlog that delivery will drain


async def test_phone_only_customers_are_handed_over_through_the_log(complaints: Complaints, pool: asyncpg.Pool) -> None:
    from domain.intake import Customer

    await drain(pool)
    state = (await complaints.register(customer=Customer(name=CUSTOMER_NAME, phone="0912345678"))).state
    await complaints.step(state, Action.ACKNOWLEDGE)
    transport = RecordingTransport()
    assert await OutboxSender(pool, transport=transport).deliver_pending() == 1
    assert transport.sent == []
    [row] = await complaints.queries.outbox(state.complaint_id)
    assert row["delivered_via"] == "log" and row["medium"] == "phone"


async def test_two_senders_never_deliver_a_message_twice(complaints: Complaints, pool: asyncpg.Pool) -> None:
    await drain(pool)
    complaint_ids = []
    for _ in range(6):
        state = await acknowledged_and_escalated(complaints)
        complaint_ids.append(state.complaint_id)
    transport = RecordingTransport(delay=0.01)
    first, second = OutboxSender(pool, transport=transport), OutboxSender(pool, transport=transport)
    results = await asyncio.gather(
        first.deliver_pending(batch=4),
        second.deliver_pending(batch=4),
        first.deliver_pending(batch=4),
        second.deliver_pending(batch=4),
    )
    assert sum(results) == 12
    ids = [message["Message-ID"] for message in transport.sent]
    assert len(ids) == len(set(ids)) == 12
    for complaint_id in complaint_ids:
        assert await pending_and_sent(pool, complaint_id) == (0, 2)


async def test_run_delivers_until_stopped(complaints: Complaints, pool: asyncpg.Pool) -> None:
    await drain(pool)
    transport = RecordingTransport()
    stop = asyncio.Event()
    task = asyncio.create_task(OutboxSender(pool, transport=transport).run(stop, interval=0.05))
    state = await acknowledged_and_escalated(complaints)
    for _ in range(100):
        if await pending_and_sent(pool, state.complaint_id) == (0, 2):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert len(transport.sent) == 2


@dataclass
class RecordingGauge:
    values: list[int] = field(default_factory=list)

    def set(self, value: int, additional_attributes: object = None) -> None:
        self.values.append(value)


async def test_run_exports_the_backlog_while_a_mail_server_refuses(complaints: Complaints, pool: asyncpg.Pool) -> None:
    await drain(pool)
    gauge = RecordingGauge()
    state = await acknowledged_and_escalated(complaints)
    metrics = SimpleNamespace(outbox_pending=gauge)
    stop = asyncio.Event()
    sender = OutboxSender(pool, transport=RecordingTransport(failures=100), metrics=metrics)  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run(stop, interval=0.05))
    for _ in range(100):
        if gauge.values:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert gauge.values == [2]  # counted once per BACKLOG_INTERVAL_SECONDS, not every round
    assert await pending_and_sent(pool, state.complaint_id) == (2, 0)


# ---- SMTP, against a minimal in-process server ----


@dataclass
class SmtpServer:
    port: int
    messages: list[bytes]
    envelopes: list[list[bytes]]


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA (with dot-unstuffing), QUIT."""
    messages: list[bytes] = []
    envelopes: list[list[bytes]] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test ESMTP\r\n")
        envelope: list[bytes] = []
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb in (b"MAIL", b"RCPT"):
                envelope.append(line.strip())
                writer.write(b"250 OK\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                data: list[bytes] = []
                while (chunk := await reader.readline()) != b".\r\n":
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                messages.append(b"".join(data))
                envelopes.append(envelope)
                envelope = []
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield SmtpServer(port, messages, envelopes)
    finally:
        server.close()
        await server.wait_closed()


async def test_with_smtp_configured_messages_are_mailed(
    complaints: Complaints, pool: asyncpg.Pool, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await drain(pool)
    monkeypatch.setenv("COMPLAINTS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("COMPLAINTS_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("COMPLAINTS_SMTP_SENDER", "cskh@example.vn")
    state = await acknowledged_and_escalated(complaints)
    settings = Settings()
    sender = OutboxSender(pool, settings.smtp_transport(), sender=settings.smtp_sender)
    with structlog.testing.capture_logs() as logs:
        assert await sender.deliver_pending() == 2
    assert not any(item in repr(logs) for item in PERSONAL_DATA)
    rows = {row["recipient"]: row for row in await complaints.queries.outbox(state.complaint_id)}
    assert {row["delivered_via"] for row in rows.values()} == {"smtp"}

    parsed = [email.message_from_bytes(raw, policy=email.policy.default) for raw in smtp_server.messages]
    by_recipient = {message["To"].addresses[0].addr_spec: message for message in parsed}
    customer = by_recipient[CUSTOMER_EMAIL]
    assert customer["From"] == "cskh@example.vn"
    assert customer["Subject"] == rows["customer"]["subject"]
    assert customer["Subject"].startswith(f"[{state.case_number}] Xác nhận tiếp nhận khiếu nại")
    assert customer["Message-ID"].startswith(f"<outbox-{rows['customer']['id']}.")
    assert customer["Message-ID"].endswith("@example.vn>")  # more in test_threaded_mail.py
    assert isinstance(customer, EmailMessage)
    assert customer.get_content().replace("\r\n", "\n") == rows["customer"]["body"]  # CRLF on the wire
    assert "supervisor@localhost" in by_recipient
    lines = [line.lower() for envelope in smtp_server.envelopes for line in envelope]
    recipients = [line for line in lines if line.startswith(b"rcpt")]
    assert sorted(recipients) == [b"rcpt to:<hoa.nguyen@example.vn>", b"rcpt to:<supervisor@localhost>"]


async def test_the_worker_settings_object_configures_smtp(
    complaints: Complaints, pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    """The worker passes its `Settings`: host, port and sender come from there."""
    await drain(pool)
    settings = Settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_sender="hotro@example.vn")
    state = await acknowledged_and_escalated(complaints)
    assert await OutboxSender(pool, settings.smtp_transport(), sender=settings.smtp_sender).deliver_pending() == 2
    parsed = [email.message_from_bytes(raw, policy=email.policy.default) for raw in smtp_server.messages]
    assert {message["From"] for message in parsed} == {"hotro@example.vn"}
    assert {row["delivered_via"] for row in await complaints.queries.outbox(state.complaint_id)} == {"smtp"}


async def test_settings_without_smtp_host_deliver_to_the_log(complaints: Complaints, pool: asyncpg.Pool) -> None:
    await drain(pool)
    state = await acknowledged_and_escalated(complaints)
    assert await OutboxSender(pool, Settings(smtp_host=None).smtp_transport()).deliver_pending() == 2
    assert {row["delivered_via"] for row in await complaints.queries.outbox(state.complaint_id)} == {"log"}


def test_smtp_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host, port, credentials and TLS mode all come from the one settings object; the password is a secret."""
    assert Settings(smtp_host=None).smtp_transport() is None
    monkeypatch.setenv("COMPLAINTS_SMTP_HOST", "mail.example.vn")
    monkeypatch.setenv("COMPLAINTS_SMTP_SECURITY", "ssl")
    monkeypatch.setenv("COMPLAINTS_SMTP_USERNAME", "cskh")
    monkeypatch.setenv("COMPLAINTS_SMTP_PASSWORD", "hunter2-secret")
    settings = Settings()
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings.model_dump())
    assert settings.smtp_transport() == SmtpTransport(
        host="mail.example.vn", port=465, username="cskh", password="hunter2-secret", security="ssl"
    )
    monkeypatch.setenv("COMPLAINTS_SMTP_PORT", "587")
    monkeypatch.setenv("COMPLAINTS_SMTP_SECURITY", "starttls")
    assert Settings().smtp_transport() == SmtpTransport(
        host="mail.example.vn", port=587, username="cskh", password="hunter2-secret", security="starttls"
    )
    monkeypatch.setenv("COMPLAINTS_SMTP_SECURITY", "tls1.0")
    with pytest.raises(SettingsError, match="COMPLAINTS_SMTP_SECURITY") as refused:
        Settings()
    assert "tls1.0" in str(refused.value)
    monkeypatch.setenv("COMPLAINTS_SMTP_SECURITY", "none")
    monkeypatch.setenv("COMPLAINTS_SMTP_PORT", "many")
    with pytest.raises(SettingsError, match="COMPLAINTS_SMTP_PORT"):
        Settings()
