"""The log redaction processor: known personal fields replaced at any depth, e-mails and phones masked in text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from domain.intake import Customer
from starter.logs import REDACTED, configure_logging, redact_personal_data, scrub_text


def redact(**event: Any) -> dict[str, Any]:
    return dict(redact_personal_data(None, "info", dict(event)))


def test_known_fields_are_replaced_at_any_depth() -> None:
    out = redact(
        event="intake",
        complaint_id="c-1",
        case_number="KN-2026-000123",
        customer={"name": "Trần Thị Bích", "phone": "0912345678"},
        request={"actor": "agent.lan", "data": {"text": "gọi lại"}, "nested": [{"Email": "a@b.vn"}]},
        description="VPS của tôi",
    )
    assert out["customer"] == REDACTED and out["description"] == REDACTED
    assert out["request"] == {"actor": "agent.lan", "data": REDACTED, "nested": [{"Email": REDACTED}]}
    assert (out["complaint_id"], out["case_number"], out["event"]) == ("c-1", "KN-2026-000123", "intake")


def test_models_are_looked_into() -> None:
    customer = Customer(name="Trần Thị Bích", phone="0912345678", contact_person="Anh Nam")
    out = redact(event="x", who={"c": customer}, count=3)
    assert set(out["who"]["c"].values()) == {REDACTED}
    assert {"name", "phone", "contact_person"} <= set(out["who"]["c"])
    assert out["count"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail bich@example.vn now", f"mail {REDACTED} now"),
        ("call 0912345678.", f"call {REDACTED}."),
        ("call 0912 345 678", f"call {REDACTED}"),
        ("call +84 912 345 678", f"call {REDACTED}"),
        ("call 0912.345.678 please", f"call {REDACTED} please"),
        ("case KN-2026-000123 at 2026-02-13T10:00:00Z", "case KN-2026-000123 at 2026-02-13T10:00:00Z"),
        ("run 0a1b2c3d-0123-4567-8901-234567890123", "run 0a1b2c3d-0123-4567-8901-234567890123"),
        ("id 7f3e0912345678ab", "id 7f3e0912345678ab"),
        ("port 7233, pid 1234567", "port 7233, pid 1234567"),
    ],
)
def test_text_is_scrubbed_of_contacts_only(text: str, expected: str) -> None:
    assert scrub_text(text) == expected
    assert redact(event=text)["event"] == expected


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def test_structlog_and_standard_logging_share_the_redaction(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(out, json=True)
    structlog.get_logger("t").info("taken in", customer={"name": "Trần Thị Bích"}, complaint_id="c-9")
    logging.getLogger("some.library").warning("retrying for %s", "bich@example.vn")
    try:
        raise RuntimeError("cannot deliver to 0912345678")
    except RuntimeError:
        structlog.get_logger("t").exception("delivery failed")
        logging.getLogger("some.library").exception("delivery failed")
    logging.getLogger("some.library").info("below the library level")
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == [
        "taken in",
        f"retrying for {REDACTED}",
        "delivery failed",
        "delivery failed",
    ]
    assert lines[0]["customer"] == REDACTED and lines[0]["complaint_id"] == "c-9"
    assert lines[1]["logger"] == "some.library" and lines[1]["level"] == "warning"
    for line in lines[2:]:
        assert "RuntimeError: cannot deliver to [redacted]" in line["exception"]
    assert "Bích" not in out.getvalue() and "0912345678" not in out.getvalue() and "bich@" not in out.getvalue()


def test_a_servers_address_is_logged_under_server_and_any_address_is_withheld(restore_logging: None) -> None:
    """The dev stack's "temporal dev server ready" line names its server under `server` (an operator needs it);
    `address` is a customer's field, withheld whole whatever it holds, a bare IP or a host and port alike."""
    out = io.StringIO()
    configure_logging(out, json=True)
    structlog.get_logger("complaints.temporal_server").info(
        "temporal dev server ready", server="127.0.0.1:7233", ui_port=8233
    )
    structlog.get_logger("web.app").info("signed in", username="lan", address="203.0.113.7:5000")
    ready, signed_in = (json.loads(line) for line in out.getvalue().splitlines())
    assert ready["server"] == "127.0.0.1:7233" and ready["ui_port"] == 8233
    assert signed_in["address"] == REDACTED and "203.0.113.7" not in out.getvalue()
