"""What a complaint may keep of a customer's files: the type allowlist, the size limits, safe names, the ref."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.attachments import (
    ALLOWED_TYPES,
    DEFAULT_MAX_ATTACHMENT_BYTES,
    MAX_FILE_NAME_CHARS,
    AttachmentRef,
    AttachmentRefusal,
    AttachmentRefused,
    allowed_type,
    check_size,
    safe_file_name,
)

SHA = "a" * 64
REF = {"attachment_id": "0" * 32, "name": "hóa đơn.pdf", "content_type": "application/pdf", "size": 10, "sha256": SHA}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("image/png", "image/png"),
        ("IMAGE/JPEG", "image/jpeg"),
        ("text/plain; charset=windows-1258", "text/plain"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", None),
        ("application/vnd.oasis.opendocument.spreadsheet", None),
    ],
)
def test_allowed_types_are_kept_by_their_real_mime_type(sent: str, kept: str | None) -> None:
    assert allowed_type(sent) == (kept or sent)


@pytest.mark.parametrize(
    "sent",
    [
        "application/x-msdownload",
        "application/zip",
        "text/html",
        "image/svg+xml",
        "application/vnd.ms-word.document.macroEnabled.12",
        "application/octet-stream",
        "",
    ],
)
def test_other_types_are_refused_with_a_code(sent: str) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        allowed_type(sent)
    assert refused.value.code is AttachmentRefusal.TYPE_NOT_ALLOWED
    assert refused.value.details()["params"]["allowed"] == list(ALLOWED_TYPES)


def test_size_limits() -> None:
    check_size(1)
    check_size(DEFAULT_MAX_ATTACHMENT_BYTES)
    assert DEFAULT_MAX_ATTACHMENT_BYTES == 10 * 1024 * 1024
    with pytest.raises(AttachmentRefused) as empty:
        check_size(0)
    assert empty.value.code is AttachmentRefusal.EMPTY
    with pytest.raises(AttachmentRefused) as large:
        check_size(DEFAULT_MAX_ATTACHMENT_BYTES + 1)
    assert large.value.details() == {
        "code": "attachment_too_large",
        "params": {"size": DEFAULT_MAX_ATTACHMENT_BYTES + 1, "max_bytes": DEFAULT_MAX_ATTACHMENT_BYTES},
    }
    with pytest.raises(AttachmentRefused):
        check_size(101, max_bytes=100)


@pytest.mark.parametrize(
    ("name", "content_type", "safe"),
    [
        ("Hóa đơn tháng 10.pdf", "application/pdf", "Hóa đơn tháng 10.pdf"),
        ("Ho\u0301a đơn.pdf", "application/pdf", "Hóa đơn.pdf"),  # decomposed Vietnamese arrives composed
        ("../../etc/passwd", "text/plain", "passwd.txt"),
        ("C:\\Users\\An\\ảnh chụp.png", "image/png", "ảnh chụp.png"),
        ("invoice\u202efdp.exe", "application/pdf", "invoicefdp.exe"),  # the override is gone: what it says is shown
        ("bad\x00name\r\n.txt", "text/plain", "badname.txt"),
        ("zero\u200bwidth.png", "image/png", "zerowidth.png"),
        (".htaccess", "text/plain", "htaccess.txt"),
        ("..", "image/png", "attachment.png"),
        ("", "application/pdf", "attachment.pdf"),
        ("   ", "image/gif", "attachment.gif"),
        ("screenshot", "image/webp", "screenshot.webp"),
        ('a<b>c:"d|e?f*.csv', "text/csv", "a_b_c__d_e_f_.csv"),
        ("CON.txt", "text/plain", "_CON.txt"),
        ("tab\tand  spaces .pdf", "application/pdf", "tab and spaces.pdf"),
    ],
)
def test_safe_file_names(name: str, content_type: str, safe: str) -> None:
    assert safe_file_name(name, content_type) == safe


def test_a_long_name_keeps_its_extension() -> None:
    safe = safe_file_name("ả" * 400 + ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert len(safe) <= MAX_FILE_NAME_CHARS
    assert safe.endswith("ả.xlsx")


def test_every_safe_name_is_a_valid_ref_name() -> None:
    for name in ["\u202e", "a\u2028b", "x/y\\z", "\ud800.png", "ﬁle\ufeff.pdf"]:
        AttachmentRef(**{**REF, "name": safe_file_name(name, "application/pdf")})


def test_the_ref_is_strict() -> None:
    """Unknown fields, types off the list, odd ids are refused; a name is read back as written (it is `Recorded`:
    `safe_file_name` is the door's check, and a ref in a history must never fail to load under a later policy)."""
    ref = AttachmentRef(**REF)
    assert AttachmentRef.model_validate_json(ref.model_dump_json()) == ref
    for field, value in [
        ("content_type", "text/html; charset=utf-8"),
        ("content_type", "not a type"),
        ("size", 0),
        ("sha256", "A" * 64),
        ("attachment_id", "../x"),
        ("name", ""),
    ]:
        with pytest.raises(ValidationError):
            AttachmentRef(**{**REF, field: value})
    with pytest.raises(ValidationError):
        AttachmentRef(**REF, data="the bytes never travel")
