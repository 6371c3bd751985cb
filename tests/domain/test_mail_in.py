"""Reading customers' mail as mail programs really send it, and deciding where it belongs (no I/O)."""

from __future__ import annotations

import base64
import quopri
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage

import pytest

from domain.actions import Action
from domain.attachments import AttachmentRefusal
from domain.fields import MAX_SHORT_TEXT_CHARS
from domain.mail_in import (
    CUT_MARKER,
    FULL_TEXT_FILE,
    MINTED_DOMAIN,
    NO_SUBJECT,
    KnownComplaint,
    attachment_note,
    automatic_reason,
    complaint_id_for,
    fitted,
    html_to_text,
    parse_mail,
    reply_action,
    reply_text,
    route,
    worded_attachment_refusal,
)
from domain.mail_thread import MESSAGE_ID_PATTERN

VIETNAMESE = "Tôi đã thanh toán hóa đơn tháng 2 nhưng dịch vụ vẫn bị khóa. Đề nghị kiểm tra gấp."


def mail(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.pop("From", str(Address("Nguyễn Văn An", addr_spec="an@example.vn")))
    message["To"] = "cskh@example.vn"
    message["Subject"] = headers.pop("Subject", "VPS mất kết nối")
    message["Message-ID"] = headers.pop("Message_ID", "<first@mail.example.vn>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(VIETNAMESE)
    return message


def test_a_plain_utf8_mail_with_an_encoded_vietnamese_name() -> None:
    raw = mail().as_bytes()
    assert b"=?utf-8?" in raw  # the name travels RFC 2047 encoded
    parsed = parse_mail(raw, "an@example.vn")
    assert parsed.sender_name == "Nguyễn Văn An"
    assert parsed.sender_address == "an@example.vn"
    assert parsed.subject == "VPS mất kết nối"
    assert parsed.body == VIETNAMESE
    assert parsed.message_id == "<first@mail.example.vn>"
    assert parsed.automatic is None and parsed.attachments == () and parsed.thread_ids == ()


def cp1258(text: str) -> bytes:
    """`text` as a Vietnamese mail program writes it in windows-1258: letters the code page has whole, the others
    as a base letter and a combining tone mark (`ầ` is `â` and U+0300)."""

    def encodable(part: str) -> bool:
        try:
            part.encode("cp1258")
        except UnicodeEncodeError:
            return False
        return True

    out = []
    for char in text:
        parts = unicodedata.normalize("NFD", char)
        for split in range(len(parts), 0, -1):
            head = unicodedata.normalize("NFC", parts[:split])
            if encodable(head) and all(encodable(mark) for mark in parts[split:]):
                out.append(head + parts[split:])
                break
        else:
            raise AssertionError(f"{char!r} has no windows-1258 form")
    return "".join(out).encode("cp1258")


def test_windows_1258_quoted_printable_body_and_q_encoded_subject() -> None:
    # windows-1258 writes most tones as combining marks: NFC composes them back
    assert cp1258(VIETNAMESE).decode("cp1258") != VIETNAMESE  # it is decomposed on the wire
    body = quopri.encodestring(cp1258(VIETNAMESE))
    subject = "=?windows-1258?Q?" + quopri.encodestring(cp1258("Hóa đơn"), header=True).decode() + "?="
    raw = (
        b"From: =?windows-1258?B?" + base64.b64encode(cp1258("Trần Thị Bích")) + b"?= <bich@example.vn>\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Message-ID: <w1258@example.vn>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=windows-1258\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body
    )
    parsed = parse_mail(raw, "bich@example.vn")
    assert parsed.sender_name == "Trần Thị Bích"
    assert parsed.subject == "Hóa đơn"
    assert parsed.body == VIETNAMESE


def test_base64_body_and_an_attachment() -> None:
    message = mail()
    message.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="hóa đơn.pdf")
    raw = message.as_bytes().replace(b"Content-Transfer-Encoding: 8bit", b"Content-Transfer-Encoding: base64")
    parsed = parse_mail(message.as_bytes())
    assert parsed.body == VIETNAMESE
    [attachment] = parsed.attachments
    assert (attachment.name, attachment.content_type, attachment.data) == (
        "hóa đơn.pdf",
        "application/pdf",
        b"%PDF-1.4 invoice",
    )
    plain = (
        b"From: an@example.vn\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(VIETNAMESE.encode())
    )
    assert parse_mail(plain).body == VIETNAMESE
    assert raw  # both encodings parse


def test_html_only_mail_is_reduced_to_text_without_markup() -> None:
    message = mail()
    message.set_content(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Xin chào,</p><p>Dịch vụ &amp; hóa đơn <b>bị lỗi</b>.</p><ul><li>một</li><li>hai</li></ul>"
        '<img src="x" onerror="alert(2)"></body></html>',
        subtype="html",
    )
    parsed = parse_mail(message.as_bytes())
    assert parsed.body == "Xin chào,\n\nDịch vụ & hóa đơn bị lỗi.\n\n- một\n\n- hai"
    assert "<" not in parsed.body and "alert" not in parsed.body and "color" not in parsed.body


def test_plain_text_is_preferred_to_html() -> None:
    message = mail()
    message.add_alternative("<p>phiên bản HTML</p>", subtype="html")
    parsed = parse_mail(message.as_bytes())
    assert parsed.body == VIETNAMESE
    assert parsed.attachments == ()  # the other version of the body is no file


def test_html_to_text_keeps_entities_and_drops_comments() -> None:
    assert html_to_text("a<br>b<!-- hidden -->&lt;c&gt;") == "a\nb<c>"


def test_no_subject_and_a_folded_long_subject() -> None:
    raw = b"From: an@example.vn\r\nMessage-ID: <n@x>\r\n\r\nhello\r\n"
    assert parse_mail(raw).subject == NO_SUBJECT
    folded = b"From: an@example.vn\r\nSubject: part one\r\n\tpart two\r\n\r\nhello\r\n"
    assert parse_mail(folded).subject == "part one part two"
    long = b"From: an@example.vn\r\nSubject: " + b"x" * 500 + b"\r\n\r\nhello\r\n"
    subject = parse_mail(long).subject
    assert len(subject) == MAX_SHORT_TEXT_CHARS and subject.endswith("…")


def test_malformed_mime_still_parses() -> None:
    raw = (
        b"From: =?utf-8?q?broken <an@example.vn>\r\n"
        b"Subject: =?unknown-charset?q?abc?=\r\n"
        b"Message-ID: no brackets@example.vn\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        b"--never-closed\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nn\xe1\xba\xa1i dung\r\n"
        b'--never-closed\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"!!!not base64!!!\r\n"
    )
    parsed = parse_mail(raw, "an@example.vn")
    assert parsed.sender_address == "an@example.vn"
    assert parsed.body == "nại dung"
    assert parsed.message_id == "<nobrackets@example.vn>"
    assert parsed.subject  # whatever the decoder made of it, there is one


@pytest.mark.parametrize("value", [None, "", "<>", "<a<b@x>", "\x00"])
def test_a_missing_or_unusable_message_id_is_minted_from_the_bytes(value: str | None) -> None:
    raw = b"From: an@example.vn\r\n" + (f"Message-ID: {value}\r\n".encode() if value is not None else b"") + b"\r\nx"
    first, again = parse_mail(raw), parse_mail(raw)
    assert first.message_id == again.message_id  # a redelivery is the same mail
    assert first.message_id.endswith(f"@{MINTED_DOMAIN}>")
    assert MESSAGE_ID_PATTERN.fullmatch(first.message_id)
    assert parse_mail(raw + b"y").message_id != first.message_id


def test_in_reply_to_first_then_references_latest_first() -> None:
    folded = b"\nReferences: <a@x> <b@x>\n <c@x>\nIn-Reply-To"
    raw = mail(In_Reply_To="<c@x>").as_bytes().replace(b"\nIn-Reply-To", folded)
    parsed = parse_mail(raw)
    assert parsed.thread_ids == ("<c@x>", "<b@x>", "<a@x>")


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Auto-Submitted", "auto-replied", "auto_submitted"),
        ("Auto-Submitted", "auto-generated", "auto_submitted"),
        ("Precedence", "bulk", "precedence"),
        ("Precedence", "list", "precedence"),
        ("Precedence", "junk", "precedence"),
        ("X-Autoreply", "yes", "auto_reply_header"),
        ("X-Autorespond", "vacation", "auto_reply_header"),
        ("X-Auto-Response-Suppress", "All", "auto_reply_header"),
    ],
)
def test_automatic_mail_is_recognised(header: str, value: str, reason: str) -> None:
    parsed = parse_mail(mail(**{header.replace("-", "_"): value}).as_bytes())
    assert automatic_reason(parsed, "an@example.vn", ()) == reason


def test_human_mail_bounces_and_our_own_mail() -> None:
    human = parse_mail(mail(Auto_Submitted="no").as_bytes())
    assert automatic_reason(human, "an@example.vn", ()) is None
    assert automatic_reason(human, "", ()) == "null_sender"
    assert automatic_reason(human, "MAILER-DAEMON@mx.example.vn", ()) == "bounce"
    assert automatic_reason(human, "an@example.vn", ["AN@example.vn"]) == "own_address"
    report = EmailMessage()
    report["From"] = "postmaster@example.vn"
    report.make_mixed()
    report.set_type("multipart/report")
    assert automatic_reason(parse_mail(report.as_bytes()), "x@example.vn", ()) == "bounce"


def test_reply_text_strips_quoted_history() -> None:
    gmail = "Đây là ảnh chụp.\n\nOn Mon, 1 Dec 2026 at 09:00, CSKH <cskh@example.vn>\nwrote:\n> Xin gửi ảnh\n> chụp"
    assert reply_text(gmail) == "Đây là ảnh chụp."
    vietnamese = "Đã gửi hóa đơn.\nVào Th 2, 1 thg 12, 2026 lúc 09:00 CSKH đã viết:\n> Xin gửi hóa đơn"
    assert reply_text(vietnamese) == "Đã gửi hóa đơn."
    outlook = "Ok.\n\n-----Original Message-----\nFrom: CSKH\nSubject: ..."
    assert reply_text(outlook) == "Ok."
    inline = "> quoted\nmy answer\n> more quoted"
    assert reply_text(inline) == "my answer"
    assert reply_text("> only a quote") == "> only a quote"  # nothing new: keep it whole rather than nothing


def test_a_long_text_is_cut_with_a_marker_and_kept_whole_as_a_file() -> None:
    assert fitted("short", 100) == ("short", None)
    text = "chữ " * 3000
    kept, whole = fitted(text, 5000)
    assert len(kept) <= 5000 and kept.endswith(CUT_MARKER)
    assert whole is not None and whole.name == FULL_TEXT_FILE and whole.content_type == "text/plain"
    assert whole.data.decode() == text


def test_a_refused_attachment_is_named_in_vietnamese() -> None:
    reason = worded_attachment_refusal(AttachmentRefusal.TYPE_NOT_ALLOWED, {"content_type": "application/x-msdownload"})
    assert attachment_note("setup\u202egpj.exe", "application/x-msdownload", reason) == (
        "[Tệp đính kèm “setupgpj.exe” không được lưu: loại tệp application/x-msdownload không được nhận.]"
    )
    assert "tối đa 10 byte" in worded_attachment_refusal(AttachmentRefusal.TOO_LARGE, {"size": 11, "max_bytes": 10})


def known(
    complaint_id: str, by_case_number: bool, email: str = "an@example.vn", stage: str = "analysing"
) -> KnownComplaint:
    return KnownComplaint(complaint_id, "KN-2026-000007", stage, email, None, by_case_number)


def test_route_by_thread_or_by_case_number_from_the_customer_only() -> None:
    reply = parse_mail(mail(Subject="Re: [KN-2026-000007] VPS", Message_ID="<r@x>").as_bytes())
    assert reply.case_numbers == ["KN-2026-000007"]
    assert route(reply, []) is None
    assert route(reply, [known("c1", True)]) == known("c1", True)
    assert route(reply, [known("c1", True, email="someone@else.vn")]) is None  # a stranger quoting a case number
    assert route(reply, [known("c1", True, email="An@Example.VN")]) is not None
    assert route(reply, [known("c2", True), known("c1", False)]).complaint_id == "c1"  # the thread wins
    own = complaint_id_for("<r@x>")
    assert route(reply, [known(own, False)]) is None  # the complaint this very mail started: a redelivery


def test_reply_action_by_stage() -> None:
    assert reply_action("awaiting_customer") is Action.CUSTOMER_INFO_RECEIVED
    assert reply_action("analysing") is Action.CUSTOMER_WROTE
    assert reply_action("closed") is Action.CUSTOMER_WROTE
    assert reply_action("merged") is None and reply_action("withdrawn") is None


def test_one_message_id_is_one_complaint_id() -> None:
    assert complaint_id_for("<a@x>") == complaint_id_for("<a@x>") != complaint_id_for("<b@x>")
