"""The text policy every door applies (domain/text.py through domain/fields.py): what it refuses, with which code
and at which field, and that whatever it accepts is stored, shown and rendered back exactly."""

from __future__ import annotations

import html
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from samples import make_intake

from domain.actions import ActionRequest, AddNote
from domain.calendar import WorkingCalendar
from domain.deadlines import EARLIEST_RECEIPT, LATEST_RECEIPT, check_receipt_in_calendar, compute_deadlines
from domain.intake import Intake, IntakeError, check_received_at
from domain.models import ComplaintInput, RegisterComplaint
from domain.policy import POLICY
from domain.text import MAX_DATA_DEPTH, TextRefused, check_data_shape, email_address, long_text, short_text
from starter.settings import SettingsError, load_company_profile, load_settings
from web.templates import page_environment

POLICY_CODES = {"text_control_character", "text_invisible_character", "text_bidi_control", "text_surrogate"}
LENGTH_CODES = {"string_too_short", "string_too_long"}
"""A text that is empty once trimmed, or too long once normalised, is refused by the field's limits."""

DECOMPOSED = "Nguye\u0302\u0303n Va\u0306n A\u0300n"
"""`Nguyễn Văn Àn` typed on a keyboard that sends base letters and combining marks."""


def refusal(func: Any, value: str) -> TextRefused:
    with pytest.raises(TextRefused) as raised:
        func(value)
    return raised.value


def intake_errors(**overrides: Any) -> list[Any]:
    with pytest.raises(ValidationError) as raised:
        Intake.model_validate(make_intake(**overrides))
    return raised.value.errors()


# ---- each rule on its own ----


def test_decomposed_vietnamese_is_stored_composed() -> None:
    composed = unicodedata.normalize("NFC", DECOMPOSED)
    assert composed != DECOMPOSED and len(composed) < len(DECOMPOSED)
    assert short_text(DECOMPOSED) == composed == "Nguyễn Văn Àn"
    assert long_text(DECOMPOSED) == composed
    intake = Intake.model_validate(make_intake(customer={"name": DECOMPOSED, "phone": "0901234567"}))
    assert intake.customer.name == composed


@pytest.mark.parametrize("policy", [short_text, long_text])
@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f"])
def test_nul_and_other_c0_c1_controls_are_refused_everywhere(policy: Any, char: str) -> None:
    refused = refusal(policy, f"a{char}b")
    assert refused.code == "text_control_character"
    assert refused.params["character"] == f"U+{ord(char):04X}"


def test_line_breaks_and_tabs_are_kept_in_long_texts_only() -> None:
    assert long_text("một\r\nhai\rba\u2028bốn\u2029năm\tsáu") == "một\nhai\nba\nbốn\nnăm\tsáu"
    for char in ("\n", "\r", "\t"):
        assert refusal(short_text, f"a{char}b").code == "text_control_character"
    assert refusal(short_text, "a\u2028b").code == "text_invisible_character"
    assert refusal(short_text, "a\u2029b").code == "text_invisible_character"


@pytest.mark.parametrize("char", ["\u202e", "\u202d", "\u200f", "\u2066", "\u061c"])
def test_direction_controls_are_refused_in_short_and_long_texts(char: str) -> None:
    assert refusal(short_text, f"invoice{char}fdp.exe").code == "text_bidi_control"
    assert refusal(long_text, f"invoice{char}fdp.exe").code == "text_bidi_control"


@pytest.mark.parametrize("char", ["\u200b", "\ufeff", "\u00ad", "\u2060"])
def test_invisible_characters_are_refused_in_short_texts_and_kept_in_long_ones(char: str) -> None:
    assert refusal(short_text, f"Lê{char}Văn").code == "text_invisible_character"
    assert long_text(f"Lê{char}Văn") == f"Lê{char}Văn"


def test_lone_surrogates_are_refused() -> None:
    assert refusal(short_text, "a\ud800b").code == "text_surrogate"
    assert refusal(long_text, "a\udfffb").code == "text_surrogate"


def test_emoji_with_joiners_and_spaces_inside_stay() -> None:
    family = "gia đình \U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert long_text(f"  {family}  ") == family
    assert short_text("  Lê  Văn  ") == "Lê  Văn"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("subject", "Hóa đơn\u202egpj.exe", "text_bidi_control"),
        ("subject", "Hóa\u200bđơn", "text_invisible_character"),
        ("subject", "\ufeffHóa đơn", "text_invisible_character"),
        ("subject", "Hóa đơn\u2028tháng 10", "text_invisible_character"),
        ("description", "a \x00 b", "text_control_character"),
        ("description", "a\u202eb", "text_bidi_control"),
        ("service", "VPS\x1b[31m", "text_control_character"),
        ("taken_by", "lan\u200b", "text_invisible_character"),
    ],
)
def test_intake_refusals_name_the_field_and_carry_the_code(field: str, value: str, code: str) -> None:
    [error] = intake_errors(**{field: value})
    assert (error["loc"], error["type"]) == ((field,), code)


@pytest.mark.parametrize("part", ["name", "contact_person"])
def test_customer_refusals_name_the_customer_field(part: str) -> None:
    customer = {"name": "Trần Thị Bích", "phone": "0912345678", part: "Bích\u202e"}
    [error] = intake_errors(customer=customer)
    assert (error["loc"], error["type"]) == (("customer", part), "text_bidi_control")


def test_an_address_may_take_lines_but_no_controls() -> None:
    customer = {"name": "Trần Thị Bích", "address": "12 Lê Lợi\r\nHuế"}
    assert Intake.model_validate(make_intake(customer=customer)).customer.address == "12 Lê Lợi\nHuế"
    [error] = intake_errors(customer={"name": "Trần Thị Bích", "address": "12 Lê Lợi\x00"})
    assert (error["loc"], error["type"]) == (("customer", "address"), "text_control_character")


def test_length_is_checked_on_the_normalised_text() -> None:
    assert Intake.model_validate(make_intake(subject=" " * 10 + "x" * 200)).subject == "x" * 200
    [error] = intake_errors(subject="x" * 201)
    assert (error["loc"], error["type"]) == (("subject",), "string_too_long")


# ---- e-mail: exactly one address ----


@pytest.mark.parametrize(
    "value",
    [
        "customer@example.vn,bob",
        "customer@example.vn, bob@example.vn",
        "customer@example.vn;bob@example.vn",
        "Bích <customer@example.vn>",
        "customer @example.vn",
        '"bich lan"@example.vn',
        "customer@[10.0.0.1]",
        "customer@localhost",
        "customer",
        "",
        "customer@example.vn\r\nBcc: bob@example.vn",
    ],
)
def test_an_email_is_one_address(value: str) -> None:
    with pytest.raises(TextRefused) as raised:
        email_address(value)
    assert raised.value.code in {"email_invalid", "text_control_character"}
    [error] = intake_errors(customer={"name": "Trần Thị Bích", "email": value})
    assert error["loc"] == ("customer", "email")
    assert error["type"] in {"email_invalid", "text_control_character"}


def test_an_email_is_stored_normalised() -> None:
    assert email_address(" Bich@EXAMPLE.VN ") == "Bich@example.vn"
    assert email_address("bích@ví-dụ.vn") == "bích@ví-dụ.vn"
    intake = Intake.model_validate(make_intake(customer={"name": "Bích", "email": "Bich@Example.VN"}))
    assert intake.customer.email == "Bich@example.vn"
    assert email_address(intake.customer.email) == intake.customer.email


# ---- action data ----


def test_action_data_is_checked_where_it_is() -> None:
    with pytest.raises(ValidationError) as raised:
        ActionRequest(request_id="r1", actor="lan", role="agent", data={"text": "a \x00 b"})
    [error] = raised.value.errors()
    assert (error["loc"], error["type"]) == (("data", "text"), "text_control_character")

    with pytest.raises(ValidationError) as raised:
        ActionRequest(request_id="r1", actor="lan", role="agent", data={"departments": ["ok", "net\u202ework"]})
    [error] = raised.value.errors()
    assert (error["loc"], error["type"]) == (("data", "departments", 1), "text_bidi_control")

    with pytest.raises(ValidationError) as raised:
        ActionRequest(request_id="r1", actor="lan", role="agent", data={"bad\u200bkey": 1})
    assert raised.value.errors()[0]["type"] == "text_invisible_character"


def test_action_data_nested_too_deep_is_refused() -> None:
    shallow: Any = "x"
    for _ in range(MAX_DATA_DEPTH):
        shallow = [shallow]
    check_data_shape({"a": shallow[0]})
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    with pytest.raises(ValidationError) as raised:
        ActionRequest(request_id="r1", actor="lan", role="agent", data={"text": deep})
    [error] = raised.value.errors()
    assert error["type"] == "data_too_deep" and error["loc"][:2] == ("data", "text")


def test_the_actor_is_a_short_text() -> None:
    with pytest.raises(ValidationError) as raised:
        ActionRequest(request_id="r1", actor="lan\u202e", role="agent")
    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [(("actor",), "text_bidi_control")]


# ---- clock inputs ----


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+07:00",
        "1000-06-01T08:00:00+07:00",
        "1999-12-31T23:59:00+07:00",
        "2099-01-01T00:00:00+07:00",
        "9999-12-31T23:59:59-23:59",
    ],
)
def test_a_receipt_outside_the_calendar_is_refused_by_the_model(value: str) -> None:
    [error] = intake_errors(received_at=value)
    assert (error["loc"], error["type"]) == (("received_at",), "received_at_out_of_range")
    with pytest.raises(ValueError, match="between 2000-01-01 and 2098-12-31"):
        compute_deadlines(datetime.fromisoformat(value), WorkingCalendar())


def test_every_date_of_the_calendar_range_has_its_clocks() -> None:
    """The first and last receipts the range allows, in the zones furthest apart: deadlines, warnings and the
    working days after them all compute (the VN calendar knows the lunar holidays of 2099)."""
    calendar = WorkingCalendar()
    first = datetime(EARLIEST_RECEIPT.year, 1, 1, 0, 0, tzinfo=UTC) + timedelta(hours=-7)
    last = datetime(LATEST_RECEIPT.year, 12, 31, 23, 59).replace(tzinfo=UTC) - timedelta(hours=7)
    for received in (first, last):
        check_receipt_in_calendar(received)
        deadlines = compute_deadlines(received, calendar)
        assert deadlines.resolution_due > received
        assert calendar.working_day_after(deadlines.resolution_due_date, 10) > deadlines.resolution_due_date
    assert compute_deadlines(last, calendar).resolution_due_date.year == 2099
    with pytest.raises(ValueError):
        check_receipt_in_calendar(first - timedelta(minutes=1))
    with pytest.raises(ValueError):
        check_receipt_in_calendar(last + timedelta(minutes=1))


def test_a_receipt_must_lie_inside_the_window_before_now() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    check_received_at(now - POLICY.receipt_window + timedelta(minutes=1), now)
    check_received_at(now + timedelta(minutes=4), now)
    with pytest.raises(IntakeError) as raised:
        check_received_at(now - POLICY.receipt_window - timedelta(minutes=1), now)
    assert (raised.value.field, raised.value.code, raised.value.params) == (
        "received_at",
        "received_at_too_early",
        {"days": 60},
    )
    with pytest.raises(IntakeError) as raised:
        check_received_at(datetime(1990, 1, 1, tzinfo=UTC), now, window=timedelta(days=365_000))
    assert raised.value.code == "received_at_out_of_range"
    with pytest.raises(IntakeError) as raised:
        check_received_at(now + timedelta(minutes=6), now)
    assert (raised.value.code, raised.value.problem) == ("received_at_in_future", "must not be in the future")
    check_received_at(now - timedelta(days=100), now, window=timedelta(days=120))


# ---- properties over arbitrary Unicode ----

INTERESTING = st.sampled_from(
    [
        *"\x00\t\n\r\x1b\x7f\x85\xa0\xad\u0301\u0302\u200b\u200d\u202e\u2028\u2029\u2066\ufeff\ufffe\ud800\udfff",
        "\r\n",
        "e\u0301",
        "A\u030a",
        "\u1100\u1161",
        "\U0001f468\u200d\U0001f469",
        "&amp;",
        "<b>",
        "'\"",
        "{{ x }}",
    ]
)
ANY_TEXT = st.lists(st.one_of(st.characters(exclude_categories=[]), INTERESTING), max_size=40).map("".join)
"""Every Unicode category, lone surrogates included, mixed with the characters the policy is about."""

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def judged(field: str, text: str) -> str | None:
    """The value the models store for `text` in `field`, or None when they refuse it with a field-named error."""
    try:
        if field == "text":
            request = ActionRequest(request_id="r1", actor="lan", role="agent", data={"text": text})
            return AddNote.model_validate(request.data).text
        if field == "customer.name":
            return Intake.model_validate(make_intake(customer={"name": text, "phone": "0901234567"})).customer.name
        return str(getattr(Intake.model_validate(make_intake(**{field: text})), field))
    except ValidationError as exc:
        for error in exc.errors():
            assert ".".join(str(part) for part in error["loc"]) in (field, f"data.{field}"), error
            assert error["type"] in POLICY_CODES | LENGTH_CODES, error
        return None


def accepted_values(field: str, policy: Any) -> list[str]:
    """Run the property over arbitrary texts for one field; return what was accepted, for the round trips."""
    accepted: list[str] = []

    @PROPERTY_SETTINGS
    @given(ANY_TEXT)
    def check(text: str) -> None:
        stored = judged(field, text)
        if stored is None:
            return
        assert stored == policy(text)
        assert stored == unicodedata.normalize("NFC", stored)
        assert policy(stored) == stored, "normalising an accepted value again changes it"
        assert judged(field, stored) == stored
        accepted.append(stored)

    check()
    return accepted


FIELDS = [("subject", short_text), ("customer.name", short_text), ("description", long_text), ("text", long_text)]


@pytest.mark.postgres
@pytest.mark.parametrize(("field", "policy"), FIELDS)
async def test_every_text_is_refused_by_field_or_stored_shown_and_rendered_back(
    field: str, policy: Any, pool: asyncpg.Pool
) -> None:
    accepted = accepted_values(field, policy)
    assert accepted, "the strategy produced nothing acceptable: it tests only refusals"
    page = page_environment("vi", load_company_profile()).from_string('<p class="text">{{ value }}</p>')
    rows = await pool.fetch(
        "SELECT t.value AS text, jsonb_build_object('v', t.value) -> 'v' AS jsonb_value, $2::jsonb AS sent"
        " FROM unnest($1::text[]) AS t(value)",
        accepted,
        {"values": accepted},
    )
    assert [row["text"] for row in rows] == accepted
    assert [row["jsonb_value"] for row in rows] == accepted
    assert rows[0]["sent"] == {"values": accepted}
    for value in accepted:
        rendered = page.render(value=value)
        assert html.unescape(rendered.removeprefix('<p class="text">').removesuffix("</p>")) == value
        assert "<" not in rendered[len('<p class="text">') : -len("</p>")]


def test_the_receipt_window_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTS_RECEIPT_WINDOW_DAYS", raising=False)
    assert load_settings().receipt_window == POLICY.receipt_window == timedelta(days=60)
    monkeypatch.setenv("COMPLAINTS_RECEIPT_WINDOW_DAYS", "7")
    assert load_settings().receipt_window == timedelta(days=7)
    monkeypatch.setenv("COMPLAINTS_RECEIPT_WINDOW_DAYS", "0")
    with pytest.raises(SettingsError, match="COMPLAINTS_RECEIPT_WINDOW_DAYS"):
        load_settings()


def test_values_recorded_under_an_older_policy_are_read_back_as_written() -> None:
    """A complaint in flight whose intake passed a laxer policy must not fail every later workflow task and
    activity once this policy is deployed; a door still refuses the same intake."""
    written = make_intake(
        customer={"name": "Trần Thị Bích", "email": "customer@example.vn,bob"},
        subject="Hóa\u200bđơn",
        description="trang 1\x0ctrang 2",
    )
    with pytest.raises(ValidationError):
        Intake.model_validate(written)
    carried = ComplaintInput.model_validate_json(json.dumps({"complaint_id": "c1", "intake": written}))
    assert carried.intake.customer.email == "customer@example.vn,bob"
    assert (carried.intake.subject, carried.intake.description) == ("Hóa\u200bđơn", "trang 1\x0ctrang 2")
    now = datetime.now(UTC).isoformat()
    registered = RegisterComplaint.model_validate(
        {"complaint_id": "c1", "workflow_id": "complaint-c1", "intake": written, "received_at": now, "now": now}
    )
    assert registered.intake.subject == "Hóa\u200bđơn"
    with pytest.raises(ValidationError):  # the door is as strict as before, after a record was read
        Intake.model_validate(written)
    with pytest.raises(ValidationError) as raised:  # receipt dates feed the clocks: bounded even in a record
        ComplaintInput.model_validate({"complaint_id": "c1", "intake": {**written, "received_at": "1000-01-01T00:00Z"}})
    assert [e["type"] for e in raised.value.errors()] == ["received_at_out_of_range"]
