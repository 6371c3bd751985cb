"""The mail ingress over real SMTP (smtplib against aiosmtpd), into a real worker on the Temporal dev server and the
embedded PostgreSQL: issue 13's "Done when" for mail in.

The SMTP answer is the door's answer: 250 only once the complaint took the mail, 4xx when it must be sent again
later, 5xx when it will never be taken. Each test reads the record afterwards to see what was (not) created.
"""

from __future__ import annotations

import asyncio
import base64
import re
import smtplib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from activities.attachments import AttachmentStore
from activities.database import create_pool
from activities.notifications import NotificationSettings
from activities.records import ComplaintRecords
from complaints.mail_ingress import IngressConfig, mail_ingress
from complaints.temporal_server import free_port
from domain.actions import Action, Role
from domain.calendar import WorkingCalendar
from domain.mail_in import complaint_id_for, earlier_case_line
from starter.client import ComplaintClient
from starter.codec import EncryptionKey, KeyRing, complaints_data_converter
from starter.connection import connect_temporal
from starter.settings import Settings, load_company_profile
from worker import build_worker

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

CUSTOMER = "an@example.vn"
OWN = "cskh@example.vn"
TEXT = "Tôi đã thanh toán hóa đơn tháng 2 nhưng dịch vụ vẫn bị khóa. Đề nghị kiểm tra gấp."
EXAMPLE = Path(__file__).resolve().parent.parent.parent / "docs" / "examples" / "complaint.eml"


@dataclass
class Ingress:
    host: str
    port: int
    complaints: ComplaintClient
    pool: asyncpg.Pool
    store: AttachmentStore


@dataclass
class Answer:
    code: int
    text: str


def send_now(host: str, port: int, raw: bytes, sender: str) -> Answer:
    """One SMTP transaction as a mail server makes it (CR LF line ends, which `as_bytes()` leaves out); the answer
    to MAIL if it refused, else to DATA."""
    raw = re.sub(rb"(?<!\r)\n", b"\r\n", raw)
    with smtplib.SMTP(host, port, timeout=120) as smtp:
        smtp.ehlo("mx.example.vn")
        code, text = smtp.mail(sender)
        if code != 250:
            return Answer(code, text.decode())
        code, text = smtp.rcpt(OWN)
        assert code == 250, text
        try:
            code, text = smtp.data(raw)
        except smtplib.SMTPDataError as refused:
            code, text = refused.smtp_code, refused.smtp_error
        return Answer(code, text.decode())


async def send(ingress: Ingress, raw: bytes, sender: str = CUSTOMER) -> Answer:
    return await asyncio.to_thread(send_now, ingress.host, ingress.port, raw, sender)


def new_mail(subject: str = "VPS mất kết nối", text: str = TEXT, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", str(Address("Nguyễn Văn An", addr_spec=CUSTOMER)))
    message["To"] = OWN
    message["Subject"] = subject
    message["Message-ID"] = headers.pop("Message_ID", f"<{uuid.uuid4().hex}@mail.example.vn>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


async def ingress_at(
    complaints: ComplaintClient, pool: asyncpg.Pool, store: AttachmentStore, config: IngressConfig
) -> AsyncIterator[Ingress]:
    async with mail_ingress(complaints, pool, store, config, port=0) as address:
        host, _, port = address.rpartition(":")
        yield Ingress(host, int(port), complaints, pool, store)


@pytest.fixture(scope="module")
def key_ring() -> KeyRing:
    return KeyRing([EncryptionKey.generate("mail-in")])


@pytest.fixture(scope="module")
async def client(temporal_address: str, key_ring: KeyRing) -> Client:
    return await connect_temporal(temporal_address, key_ring=key_ring)


@pytest.fixture(scope="module")
async def complaints(client: Client, pool: asyncpg.Pool) -> AsyncIterator[ComplaintClient]:
    settings = Settings(task_queue=f"mail-in-{uuid.uuid4().hex[:8]}", metrics_address="")
    records = ComplaintRecords(pool, WorkingCalendar(), NotificationSettings(load_company_profile()))
    async with build_worker(client, records, settings):
        yield ComplaintClient(client, settings.task_queue)


@pytest.fixture(scope="module")
def store(pool: asyncpg.Pool, key_ring: KeyRing) -> AttachmentStore:
    return AttachmentStore(pool, key_ring)


@pytest.fixture(scope="module")
async def ingress(complaints: ComplaintClient, pool: asyncpg.Pool, store: AttachmentStore) -> AsyncIterator[Ingress]:
    config = IngressConfig(rate_per_minute=6000, burst=1000, own_addresses=frozenset({OWN}), timeout=60)
    async for running in ingress_at(complaints, pool, store, config):
        yield running


async def complaint_row(pool: asyncpg.Pool, complaint_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM complaints WHERE complaint_id = $1", complaint_id)


async def events(pool: asyncpg.Pool, complaint_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", complaint_id)


async def test_a_new_mail_starts_a_complaint(ingress: Ingress) -> None:
    message = new_mail()
    before = datetime.now(UTC)
    answer = await send(ingress, message.as_bytes())
    after = datetime.now(UTC)
    assert answer.code == 250, answer.text
    complaint_id = complaint_id_for(message["Message-ID"])
    row = await complaint_row(ingress.pool, complaint_id)
    assert row is not None
    assert answer.text == f"2.0.0 Complaint {row['case_number']} received"
    assert row["channel"] == "email"
    assert before <= row["received_at"] <= after  # the legal receipt: when the ingress accepted the DATA
    assert row["customer_message_id"] == message["Message-ID"]  # the root of the thread the outbox continues
    assert row["customer"]["name"] == "Nguyễn Văn An" and row["customer"]["email"] == CUSTOMER
    assert row["subject"] == "VPS mất kết nối"
    state = await ingress.complaints.state(complaint_id)
    assert state.intake.description == TEXT and state.intake.message_id == message["Message-ID"]


async def test_a_three_message_thread_stays_one_complaint(ingress: Ingress) -> None:
    first = new_mail()
    assert (await send(ingress, first.as_bytes())).code == 250
    complaint_id = complaint_id_for(first["Message-ID"])
    row = await complaint_row(ingress.pool, complaint_id)
    assert row is not None
    case = row["case_number"]

    by_tag = new_mail(f"Re: [{case}] VPS mất kết nối", f"Vẫn chưa được.\n\nOn Mon, CSKH wrote:\n> {TEXT}")
    answer = await send(ingress, by_tag.as_bytes())
    assert answer.code == 250 and answer.text == f"2.0.0 Added to complaint {case}", answer.text
    by_references = new_mail("Re: VPS", "Đã khởi động lại, vẫn lỗi.", References=first["Message-ID"])
    assert (await send(ingress, by_references.as_bytes())).code == 250

    wrote = [e for e in await events(ingress.pool, complaint_id) if e["kind"] == "customer_wrote"]
    assert [(e["door"], e["role"], e["actor"]) for e in wrote] == [("email", "system", "mail")] * 2
    state = await ingress.complaints.state(complaint_id)
    entries = [e for e in state.timeline if e.kind == "customer_wrote"]
    assert [e.data["text"] for e in entries] == ["Vẫn chưa được.", "Đã khởi động lại, vẫn lỗi."]

    # a stranger quoting the case number does not write into the complaint: it is a complaint of their own
    stranger = new_mail(f"Re: [{case}] tôi cũng bị", From="Lê Văn C <c@example.vn>")
    assert (await send(ingress, stranger.as_bytes(), "c@example.vn")).code == 250
    assert len([e for e in await events(ingress.pool, complaint_id) if e["kind"] == "customer_wrote"]) == 2
    assert await complaint_row(ingress.pool, complaint_id_for(stranger["Message-ID"])) is not None


async def test_an_answer_to_request_info_moves_the_complaint_on(ingress: Ingress) -> None:
    first = new_mail()
    assert (await send(ingress, first.as_bytes())).code == 250
    complaint_id = complaint_id_for(first["Message-ID"])
    complaints = ingress.complaints
    await complaints.act(complaint_id, Action.ACKNOWLEDGE, actor="lan", role=Role.AGENT)
    state = await complaints.act(
        complaint_id,
        Action.REQUEST_INFO,
        actor="lan",
        role=Role.AGENT,
        data={"missing": ["documents"], "message": "Xin gửi ảnh chụp màn hình lỗi"},
    )
    assert state.stage == "awaiting_customer"
    answer = new_mail(f"Re: [{state.case_number}] Yêu cầu bổ sung thông tin", "Ảnh chụp đây ạ.")
    answer.add_attachment(b"\x89PNG\r\n\x1a\n-screenshot", maintype="image", subtype="png", filename="loi.png")
    assert (await send(ingress, answer.as_bytes())).code == 250

    state = await complaints.state(complaint_id)
    assert state.stage == "analysing"
    last = state.timeline[-1]
    assert (last.kind, last.door, last.role) == ("customer_info_received", "email", "system")
    assert last.data["summary"] == "Ảnh chụp đây ạ."
    [kept] = await ingress.store.list(complaint_id)
    assert last.data["attachments"] == [kept.ref.model_dump(mode="json")]


async def test_a_reply_to_a_message_the_outbox_sent_finds_its_complaint(ingress: Ingress) -> None:
    """In-Reply-To naming our own Message-ID (`outbox.message_id`): no case number needed in the subject."""
    first = new_mail()
    assert (await send(ingress, first.as_bytes())).code == 250
    complaint_id = complaint_id_for(first["Message-ID"])
    await ingress.complaints.act(complaint_id, Action.ACKNOWLEDGE, actor="lan", role=Role.AGENT)
    ours = f"<outbox-{uuid.uuid4().hex}@example.vn>"
    updated = await ingress.pool.execute(
        "UPDATE outbox SET message_id = $2 WHERE id = (SELECT min(id) FROM outbox WHERE complaint_id = $1)",
        complaint_id,
        ours,
    )
    assert updated == "UPDATE 1"  # as the sender marks the acknowledgement it mailed
    reply = new_mail("Re: Xác nhận", "Cảm ơn, tôi chờ.", In_Reply_To=ours, From="an@example.vn")
    assert (await send(ingress, reply.as_bytes())).code == 250
    assert [e["kind"] for e in await events(ingress.pool, complaint_id)][-1] == "customer_wrote"


async def test_a_reply_to_a_merged_complaint_goes_to_its_primary(ingress: Ingress) -> None:
    duplicate, primary = new_mail(), new_mail()
    for message in (duplicate, primary):
        assert (await send(ingress, message.as_bytes())).code == 250
    duplicate_id, primary_id = (complaint_id_for(m["Message-ID"]) for m in (duplicate, primary))
    merged = await ingress.complaints.act(
        duplicate_id, Action.MERGE_INTO, actor="hung", role=Role.MANAGER, data={"primary_complaint_id": primary_id}
    )
    assert merged.stage == "merged"
    reply = new_mail(f"Re: [{merged.case_number}] VPS", "Bổ sung: lỗi cả DNS.")
    answer = await send(ingress, reply.as_bytes())
    row = await complaint_row(ingress.pool, primary_id)
    assert row is not None
    assert answer.code == 250 and answer.text == f"2.0.0 Added to complaint {row['case_number']}", answer.text
    assert [e["kind"] for e in await events(ingress.pool, primary_id)][-1] == "customer_wrote"


@pytest.mark.parametrize("archived", [False, True], ids=["withdrawn", "archived"])
async def test_a_reply_to_an_ended_complaint_starts_a_new_one_naming_it(ingress: Ingress, archived: bool) -> None:
    first = new_mail()
    assert (await send(ingress, first.as_bytes())).code == 250
    complaint_id = complaint_id_for(first["Message-ID"])
    state = await ingress.complaints.act(
        complaint_id, Action.WITHDRAW, actor="lan", role=Role.AGENT, data={"reason": "khách rút"}
    )
    if archived:  # the workflow has ended while the record still says closed (archived after the reopen window)
        await ingress.pool.execute("UPDATE complaints SET stage = 'closed' WHERE complaint_id = $1", complaint_id)
    reply = new_mail(f"Re: [{state.case_number}] VPS", "Lại bị lỗi.")
    answer = await send(ingress, reply.as_bytes())
    assert answer.code == 250 and answer.text.endswith("received"), answer.text
    new = await ingress.complaints.state(complaint_id_for(reply["Message-ID"]))
    assert new.intake.description.startswith(earlier_case_line(state.case_number))
    assert new.intake.description.endswith("Lại bị lỗi.")


MARKERS = [
    {"Auto_Submitted": "auto-replied"},
    {"Auto_Submitted": "auto-generated"},
    {"Precedence": "bulk"},
    {"Precedence": "list"},
    {"Precedence": "junk"},
    {"X_Autoreply": "yes"},
    {"X_Autorespond": "yes"},
    {"X_Auto_Response_Suppress": "All"},
]


@pytest.mark.parametrize("marker", MARKERS, ids=lambda marker: "=".join(next(iter(marker.items()))))
async def test_an_auto_reply_creates_nothing(ingress: Ingress, marker: dict[str, str]) -> None:
    message = new_mail("Tự động trả lời: vắng mặt", **marker)
    answer = await send(ingress, message.as_bytes())
    assert answer.code == 250 and "automatic" in answer.text
    assert await complaint_row(ingress.pool, complaint_id_for(message["Message-ID"])) is None


@pytest.mark.parametrize(
    ("sender", "header_from"),
    [("", CUSTOMER), ("MAILER-DAEMON@mx.example.vn", "MAILER-DAEMON@mx.example.vn"), (OWN, OWN)],
    ids=["null-sender", "mailer-daemon", "our-own-address"],
)
async def test_bounces_and_our_own_mail_create_nothing(ingress: Ingress, sender: str, header_from: str) -> None:
    message = new_mail("Undelivered Mail Returned to Sender", From=header_from)
    answer = await send(ingress, message.as_bytes(), sender)
    assert answer.code == 250 and "automatic" in answer.text
    assert await complaint_row(ingress.pool, complaint_id_for(message["Message-ID"])) is None


async def test_the_same_message_id_five_times_is_one_complaint_and_one_event(ingress: Ingress) -> None:
    message = new_mail()
    raw = message.as_bytes()
    answers = await asyncio.gather(*(send(ingress, raw) for _ in range(5)))
    assert [a.code for a in answers] == [250] * 5
    assert len({a.text for a in answers}) == 1  # the same case number each time
    complaint_id = complaint_id_for(message["Message-ID"])
    assert [e["kind"] for e in await events(ingress.pool, complaint_id)] == ["received"]
    assert await ingress.pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", complaint_id) == 1

    row = await complaint_row(ingress.pool, complaint_id)
    assert row is not None
    reply = new_mail(f"Re: [{row['case_number']}] VPS", "Có tin gì chưa?").as_bytes()
    answers = await asyncio.gather(*(send(ingress, reply) for _ in range(5)))
    assert [a.code for a in answers] == [250] * 5
    assert [e["kind"] for e in await events(ingress.pool, complaint_id)] == ["received", "customer_wrote"]


async def test_a_15_mb_message_is_refused_with_552(ingress: Ingress) -> None:
    message = new_mail()
    message.add_attachment(b"\0" * (15 * 1024 * 1024), maintype="application", subtype="pdf", filename="big.pdf")
    answer = await send(ingress, message.as_bytes())
    assert answer.code == 552, answer.text
    assert await complaint_row(ingress.pool, complaint_id_for(message["Message-ID"])) is None


def windows_1258(text: str) -> bytes:
    """As a Vietnamese mail program writes windows-1258: the letters the code page lacks as base and tone mark."""
    import unicodedata

    out = []
    for char in text:
        try:
            out.append(char.encode("cp1258"))
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            head = unicodedata.normalize("NFC", parts[:-1])
            out.append(head.encode("cp1258") + parts[-1].encode("cp1258"))
    return b"".join(out)


async def test_a_windows_1258_message_with_an_attachment(ingress: Ingress) -> None:
    message_id = f"<{uuid.uuid4().hex}@outlook.example.vn>"
    invoice = b"%PDF-1.4\n% hoa don thang 2\n"
    raw = (
        b"From: =?windows-1258?B?" + base64.b64encode(windows_1258("Trần Thị Bích")) + b"?= <bich@example.vn>\r\n"
        b"To: " + OWN.encode() + b"\r\n"
        b"Subject: =?windows-1258?B?" + base64.b64encode(windows_1258("Hóa đơn sai số tiền")) + b"?=\r\n"
        b"Message-ID: " + message_id.encode() + b"\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=windows-1258\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + windows_1258(TEXT)
        + b"\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="=?windows-1258?B?'
        + base64.b64encode(windows_1258("hóa đơn.pdf"))
        + b'?="\r\n\r\n'
        + base64.encodebytes(invoice).replace(b"\n", b"\r\n")
        + b"--b1--\r\n"
    )
    answer = await send(ingress, raw, "bich@example.vn")
    assert answer.code == 250, answer.text
    complaint_id = complaint_id_for(message_id)
    state = await ingress.complaints.state(complaint_id)
    assert state.intake.customer.name == "Trần Thị Bích"
    assert state.intake.subject == "Hóa đơn sai số tiền"
    assert state.intake.description == TEXT
    [ref] = state.intake.attachments
    assert (ref.name, ref.content_type, ref.size) == ("hóa đơn.pdf", "application/pdf", len(invoice))
    found = await ingress.store.get(complaint_id, ref.attachment_id)
    assert found is not None and found[1] == invoice


async def test_a_big_mail_under_the_limit_is_taken_with_its_file(ingress: Ingress) -> None:
    """Parsed in the ingress's own threads (it is over `PARSE_INLINE_BYTES`), while the loop serves others."""
    message = new_mail()
    scan = b"%PDF-1.4\n" + bytes(range(256)) * (3 * 1024 * 1024 // 256)
    message.add_attachment(scan, maintype="application", subtype="pdf", filename="bản scan.pdf")
    small = new_mail()
    big, other = await asyncio.gather(send(ingress, message.as_bytes()), send(ingress, small.as_bytes()))
    assert (big.code, other.code) == (250, 250), (big.text, other.text)
    state = await ingress.complaints.state(complaint_id_for(message["Message-ID"]))
    [ref] = state.intake.attachments
    assert (ref.name, ref.size) == ("bản scan.pdf", len(scan))


async def test_a_refused_attachment_is_left_out_and_named(ingress: Ingress) -> None:
    message = new_mail()
    message.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="setup.exe")
    assert (await send(ingress, message.as_bytes())).code == 250
    state = await ingress.complaints.state(complaint_id_for(message["Message-ID"]))
    assert state.intake.attachments == []
    assert state.intake.description.endswith(
        "[Tệp đính kèm “setup.exe” không được lưu: loại tệp application/x-msdownload không được nhận.]"
    )


async def test_a_long_mail_is_cut_and_kept_whole_as_a_file(ingress: Ingress) -> None:
    text = "\n".join(f"Dòng {n}: máy chủ không phản hồi." for n in range(600))
    message = new_mail(text=text)
    assert (await send(ingress, message.as_bytes())).code == 250
    state = await ingress.complaints.state(complaint_id_for(message["Message-ID"]))
    assert len(state.intake.description) <= 10_000 and "toàn văn trong tệp" in state.intake.description
    [ref] = state.intake.attachments
    found = await ingress.store.get(state.complaint_id, ref.attachment_id)
    assert found is not None and found[1].decode() == text


async def test_a_sender_over_the_rate_limit_is_deferred_then_accepted(
    complaints: ComplaintClient, pool: asyncpg.Pool, store: AttachmentStore
) -> None:
    config = IngressConfig(rate_per_minute=60, burst=2, timeout=60)  # two at once, then one a second
    async for limited in ingress_at(complaints, pool, store, config):
        assert (await send(limited, new_mail().as_bytes())).code == 250
        assert (await send(limited, new_mail().as_bytes())).code == 250
        third = new_mail()
        deferred = await send(limited, third.as_bytes())
        assert deferred.code == 451 and deferred.text.startswith("4.7.1"), deferred.text
        assert await complaint_row(pool, complaint_id_for(third["Message-ID"])) is None
        assert (await send(limited, new_mail().as_bytes(), "someone.else@example.vn")).code == 250  # per sender
        await asyncio.sleep(1.1)
        retried = await send(limited, third.as_bytes())  # the sending server tries again later
        assert retried.code == 250, retried.text
        assert await complaint_row(pool, complaint_id_for(third["Message-ID"])) is not None


async def test_a_text_policy_refusal_is_550_naming_the_field_and_changes_nothing(ingress: Ingress) -> None:
    spoofed = new_mail(From=str(Address("An\u202eCSKH", addr_spec=CUSTOMER)))
    answer = await send(ingress, spoofed.as_bytes())
    assert answer.code == 550, answer.text
    assert (
        answer.text
        == "5.6.0 Complaint not taken: the sender's name (From) contains a character that changes the text direction"
    )
    assert await complaint_row(ingress.pool, complaint_id_for(spoofed["Message-ID"])) is None

    control = new_mail("Hóa đơn\x07")
    answer = await send(ingress, control.as_bytes())
    assert (answer.code, answer.text) == (550, "5.6.0 Complaint not taken: the subject contains a control character")
    assert answer.text.isascii()

    first = new_mail()
    assert (await send(ingress, first.as_bytes())).code == 250
    complaint_id = complaint_id_for(first["Message-ID"])
    row = await complaint_row(ingress.pool, complaint_id)
    assert row is not None
    bad_reply = new_mail(f"Re: [{row['case_number']}] VPS", "Xem tệp \u202egpj.exe")
    answer = await send(ingress, bad_reply.as_bytes())
    assert answer.code == 550 and "the message text" in answer.text, answer.text
    assert [e["kind"] for e in await events(ingress.pool, complaint_id)] == ["received"]


async def test_mime_nested_too_deep_to_read_is_refused_for_good(ingress: Ingress) -> None:
    raw = b"From: an@example.vn\r\nSubject: x\r\nMessage-ID: <deep@example.vn>\r\n"
    for level in range(3000):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
    answer = await send(ingress, raw + b"Content-Type: text/plain\r\n\r\nhello\r\n")
    assert (answer.code, answer.text) == (550, "5.6.0 Complaint not taken: the message cannot be read")
    assert await complaint_row(ingress.pool, complaint_id_for("<deep@example.vn>")) is None


async def test_temporal_unreachable_is_451_and_nothing_is_lost(
    ingress: Ingress, pool: asyncpg.Pool, store: AttachmentStore, key_ring: KeyRing
) -> None:
    gone = await Client.connect(
        f"127.0.0.1:{free_port()}", lazy=True, data_converter=complaints_data_converter(key_ring)
    )
    message = new_mail()
    async for down in ingress_at(ComplaintClient(gone), pool, store, IngressConfig(timeout=3)):
        started = time.monotonic()
        answer = await send(down, message.as_bytes())
        assert answer.code == 451 and answer.text.startswith("4.3.0"), answer.text
        assert time.monotonic() - started < 30
    assert await complaint_row(pool, complaint_id_for(message["Message-ID"])) is None
    # the sending server keeps it and tries again, once Temporal is back: taken then
    assert (await send(ingress, message.as_bytes())).code == 250
    assert await complaint_row(pool, complaint_id_for(message["Message-ID"])) is not None


async def test_postgresql_unreachable_is_451(complaints: ComplaintClient, key_ring: KeyRing) -> None:
    """A reply needs the record to find its complaint, a file needs the store: neither there, the mail waits."""
    dead = await create_pool("postgresql://postgres@/postgres?host=/nonexistent-postgres-dir", min_size=0)
    try:
        async for down in ingress_at(complaints, dead, AttachmentStore(dead, key_ring), IngressConfig(timeout=10)):
            reply = await send(down, new_mail("Re: [KN-2026-000001] VPS").as_bytes())
            assert reply.code == 451 and reply.text.startswith("4.3.0"), reply.text
            with_file = new_mail()
            with_file.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
            answer = await send(down, with_file.as_bytes())
            assert answer.code == 451 and answer.text.startswith("4.3.0"), answer.text
    finally:
        await dead.close()


async def test_the_documented_example_starts_a_complaint(ingress: Ingress) -> None:
    """README's walkthrough sends docs/examples/complaint.eml with curl; here with smtplib, the same bytes."""
    raw = EXAMPLE.read_bytes()
    answer = await send(ingress, raw, "an.nguyen@example.vn")
    assert answer.code == 250 and answer.text.endswith("received"), answer.text
    rows = await ingress.pool.fetch("SELECT * FROM complaints WHERE customer->>'email' = 'an.nguyen@example.vn'")
    assert len(rows) == 1 and rows[0]["channel"] == "email"
    assert rows[0]["subject"] == "VPS mất kết nối từ sáng nay"
