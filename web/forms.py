"""Reading the browser's forms: bounded bodies, the intake, and one small form per action.

Forms are plain `application/x-www-form-urlencoded` posts (no uploads), read with a size cap before parsing, so
an oversized post is refused with 413 before anything else looks at it. Validation is the domain's own pydantic
models; only the wording of the problems is the web's, translated for the reader.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException
from starlette.requests import Request

from domain.actions import ACTION_DATA, Action, InfoItem, ReplyChannel
from domain.calendar import BUSINESS_TZ
from domain.fields import MAX_TEXT_CHARS
from domain.intake import Customer, Intake, check_received_at
from domain.intake import IntakeError as DomainIntakeError
from domain.models import ComplaintState
from domain.policy import POLICY
from web.i18n import Translator
from web.labels import INFO_ITEMS, INTAKE_CHANNELS, N_, REPLY_CHANNELS

MAX_BODY_BYTES = 256 * 1024
"""The longest text (10,000 Vietnamese characters) percent-encoded stays well under this."""
MAX_FIELDS = 100
COMPLAINT_KEY = re.compile(r"^[a-f0-9]{32}$")


class FormData:
    """A posted form: every value of each field, in order."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in pairs:
            self._values.setdefault(key, []).append(value)

    def get(self, name: str, default: str = "") -> str:
        values = self._values.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def __contains__(self, name: object) -> bool:
        return name in self._values


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The post's body, or 413 once it is larger than `max_bytes` (the declared length is checked first, then what
    actually arrives, so a lying header cannot get more through)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise HTTPException(413, "the form is too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise HTTPException(413, "the form is too large")
    return bytes(body)


def parse_plain_form(body: bytes) -> FormData:
    """An `application/x-www-form-urlencoded` body's fields, or 400 (garbled, or over `MAX_FIELDS`)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form could not be read") from None
    return FormData(pairs)


async def read_form(request: Request) -> FormData:
    """The posted form, or 413 (too big), 415 (not a plain form) or 400 (garbled)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", ""):
        raise HTTPException(415, "expected a form (application/x-www-form-urlencoded)")
    body = await read_body(request, MAX_BODY_BYTES)
    if not content_type and body:  # an empty post (a bare button) may come without a type; a body may not
        raise HTTPException(415, "expected a form (application/x-www-form-urlencoded)")
    return parse_plain_form(body)


def new_request_id() -> str:
    """Embedded in each action form when it is rendered: submitting the same form twice applies it once."""
    return f"web:{uuid.uuid4().hex}"


def new_complaint_key() -> str:
    """Embedded in the intake form: the complaint's idempotency key, so a double submit starts it once."""
    return uuid.uuid4().hex


# ---- problems, worded for the reader ----

REFUSALS = {
    "text_control_character": N_("Must not contain control characters (%(character)s)."),
    "text_invisible_character": N_("Must not contain invisible characters or line breaks (%(character)s)."),
    "text_bidi_control": N_("Must not contain characters that change the text direction (%(character)s)."),
    "text_surrogate": N_("Contains half a character (%(character)s): check how the text was encoded."),
    "email_invalid": N_("Must be one e-mail address."),
    "data_too_deep": N_("Nested too deeply."),
    "received_at_no_time_zone": N_("Not in the expected format."),
    "received_at_out_of_range": N_("Must be between %(earliest)s and %(latest)s."),
    "received_at_in_future": N_("Must not be in the future."),
    "received_at_too_early": N_("Must not be more than %(days)s days ago."),
    "department_unknown": N_("The company has no department “%(department)s”."),
}
"""The domain's refusal codes (the text policy, the receipt's clock) in the reader's words."""
REFUSAL_PARAMS = dict.fromkeys(("character", "earliest", "latest", "days", "department"), "?")
"""What a wording shows when a refusal came without the value it names, rather than failing the page."""


def refusal_text(code: str, params: Mapping[str, Any], tr: Translator) -> str | None:
    """A refusal code worded for the reader, or None when the code is not one of the domain's."""
    if code not in REFUSALS:
        return None
    return tr.gettext(REFUSALS[code], **{**REFUSAL_PARAMS, **{key: str(value) for key, value in params.items()}})


def intake_error_text(error: DomainIntakeError, tr: Translator) -> str:
    """An `IntakeError` from the client (a door checked it again) worded for the reader."""
    return refusal_text(error.code, error.params, tr) or error.problem


def problem_text(error: ErrorDetails, tr: Translator) -> str:
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    refusal = refusal_text(kind, ctx, tr)
    if refusal is not None:
        return refusal
    if kind in ("missing", "string_too_short") or (kind == "string_type" and error.get("input") is None):
        return tr.gettext("Required.")
    if kind == "string_too_long":
        return tr.gettext("Too long: at most %(max)s characters.", max=ctx.get("max_length", "?"))
    if kind == "too_short":
        return tr.gettext("Choose at least one.")
    if kind == "too_long":
        return tr.gettext("Too many entries.")
    if kind == "enum":
        return tr.gettext("Choose one of the options.")
    if kind == "string_pattern_mismatch":
        return tr.gettext("Not in the expected format.")
    if kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
        known = {
            "needs at least one of phone, email or address": N_("Give at least a phone, an e-mail or an address."),
            "comment is required when the plan is rejected": N_("Say why the plan is rejected."),
        }
        return tr.gettext(known[message]) if message in known else message
    return tr.gettext("Not a valid value.")


def field_errors(exc: ValidationError, tr: Translator, rename: Mapping[str, str] | None = None) -> dict[str, str]:
    """The first problem of each field, keyed by the field's dotted name (`customer.phone`)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
        name = ".".join(loc) or "_form"
        if rename:
            name = rename.get(name, name)
        errors.setdefault(name, problem_text(error, tr))
    return errors


# ---- intake ----


@dataclass
class IntakeForm:
    """What the agent typed, kept to show the form again with the problems next to the fields."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    intake: Intake | None = None


INTAKE_FIELDS = (
    "channel",
    "customer.name",
    "customer.phone",
    "customer.email",
    "customer.address",
    "customer.contact_person",
    "subject",
    "description",
    "service",
    "department",
    "received_at",
)


def blank_intake() -> dict[str, str]:
    values = dict.fromkeys(INTAKE_FIELDS, "")
    values["channel"] = INTAKE_CHANNELS[0].value
    values["department"] = "customer_care"
    values["complaint_key"] = new_complaint_key()
    return values


def parse_local_datetime(text: str) -> datetime:
    """`YYYY-MM-DDTHH:MM` from a datetime-local input, as wall-clock time in Asia/Ho_Chi_Minh."""
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=BUSINESS_TZ)


def read_intake(
    form: FormData, tr: Translator, now: datetime | None = None, window: timedelta = POLICY.receipt_window
) -> IntakeForm:
    """The intake from the form, checked as every door checks it; `window` is how long before `now` a receipt may
    lie (`COMPLAINTS_RECEIPT_WINDOW_DAYS`)."""
    values = {name: form.get(name) for name in INTAKE_FIELDS}
    key = form.get("complaint_key")
    values["complaint_key"] = key if COMPLAINT_KEY.match(key) else new_complaint_key()
    result = IntakeForm(values=values)
    if values["channel"] not in {channel.value for channel in INTAKE_CHANNELS}:
        result.errors["channel"] = tr.gettext("Choose one of the options.")
    customer = {
        part: values[f"customer.{part}"].strip()
        for part in ("name", "phone", "email", "address", "contact_person")
        if values[f"customer.{part}"].strip() or part == "name"
    }
    if not any(customer.get(part) for part in ("phone", "email", "address")):
        # The domain says so too, but only once the name is right; the agent should hear it at once.
        result.errors["customer.phone"] = tr.gettext("Give at least a phone, an e-mail or an address.")
    raw: dict[str, Any] = {
        "customer": customer,
        "channel": values["channel"],
        "subject": values["subject"],
        "description": values["description"],
        "department": values["department"].strip() or "customer_care",
        "complaint_id": values["complaint_key"],
    }
    if values["service"].strip():
        raw["service"] = values["service"]
    if values["received_at"].strip():
        try:
            raw["received_at"] = parse_local_datetime(values["received_at"].strip())
        except ValueError:
            result.errors["received_at"] = tr.gettext("Not in the expected format.")
    try:
        intake = Intake.model_validate(raw)
    except ValidationError as exc:
        for name, problem in field_errors(exc, tr, rename={"customer": "customer.phone"}).items():
            result.errors.setdefault(name, problem)
        return result
    if intake.received_at is not None:
        try:
            check_received_at(intake.received_at, now or datetime.now(UTC), window)
        except DomainIntakeError as exc:
            result.errors["received_at"] = intake_error_text(exc, tr)
    if not result.errors:
        result.intake = intake
    return result


# ---- actions ----


class Widget(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    CHECKBOX = "checkbox"
    CHOICES = "choices"
    """Several checkboxes, one value each."""
    DEPARTMENT = "department"
    """One of the company's departments (a select of their names)."""
    DEPARTMENTS = "departments"
    """Any of the company's departments (a checkbox each)."""
    DECISION = "decision"
    """Two submit buttons: approve, reject."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    widget: Widget
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int = MAX_TEXT_CHARS


def _text(name: str, required: bool = True) -> FieldSpec:
    return FieldSpec(name, Widget.TEXTAREA, required)


ACTION_FORMS: dict[Action, tuple[FieldSpec, ...]] = {
    Action.ACKNOWLEDGE: (_text("message", required=False),),
    Action.REQUEST_INFO: (
        FieldSpec("missing", Widget.CHOICES, choices=tuple(INFO_ITEMS.items())),
        _text("message"),
    ),
    Action.CUSTOMER_INFO_RECEIVED: (_text("summary"),),
    Action.CUSTOMER_WROTE: (_text("text"),),
    Action.TRANSFER: (FieldSpec("to_department", Widget.DEPARTMENT, max_length=40), _text("reason")),
    Action.RESOLVE_ON_FIRST_CONTACT: (_text("resolution"), FieldSpec("customer_agreed", Widget.CHECKBOX)),
    Action.CAUSE_IDENTIFIED: (
        _text("cause"),
        FieldSpec("company_at_fault", Widget.CHECKBOX, required=False),
        FieldSpec("departments", Widget.DEPARTMENTS, required=False),
    ),
    Action.PROPOSE_PLAN: (_text("plan"),),
    Action.MANAGER_APPROVAL: (_text("comment", required=False), FieldSpec("approved", Widget.DECISION)),
    Action.SEND_RESOLUTION: (
        _text("reply"),
        FieldSpec("channels", Widget.CHOICES, choices=tuple(REPLY_CHANNELS.items())),
    ),
    Action.REPORT_FOLLOWUP: (_text("fault"),),
    Action.CLOSE: (_text("summary"), _text("lessons_learned")),
    Action.REOPEN: (_text("reason"),),
    Action.MERGE_INTO: (FieldSpec("primary_case_number", Widget.TEXT, max_length=40),),
    Action.WITHDRAW: (_text("reason"),),
    Action.ADD_NOTE: (_text("text"),),
}
assert set(ACTION_FORMS) == set(Action), "every action needs a form"
assert {c for c, _ in ACTION_FORMS[Action.REQUEST_INFO][0].choices} == {i.value for i in InfoItem}


@dataclass
class ActionForm:
    action: Action
    values: dict[str, list[str]]
    errors: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    defaults: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Choices preselected on a form not yet sent (a sent form shows what was sent), by field."""


def reply_channels_for(customer: Customer) -> tuple[str, ...]:
    """The reply channel the send-resolution form preselects: one this customer can be reached on. E-mail only
    for a customer who gave an e-mail address; else a letter to the postal address; else directly (by phone)."""
    if customer.email:
        return (ReplyChannel.EMAIL.value,)
    if customer.address:
        return (ReplyChannel.LETTER.value,)
    return (ReplyChannel.DIRECT.value,)


def blank_action_form(action: Action, state: ComplaintState) -> ActionForm:
    """An action's form as first offered on the complaint page, its choices preselected for this complaint."""
    defaults: dict[str, tuple[str, ...]] = {}
    if action is Action.SEND_RESOLUTION:
        defaults["channels"] = reply_channels_for(state.intake.customer)
    return ActionForm(action=action, values={}, defaults=defaults)


def read_action(action: Action, form: FormData, tr: Translator) -> ActionForm:
    """The action's data from its form, checked against the action's own model; problems keyed by field."""
    result = ActionForm(action=action, values={spec.name: form.all(spec.name) for spec in ACTION_FORMS[action]})
    data: dict[str, Any] = {}
    for spec in ACTION_FORMS[action]:
        value = form.get(spec.name).strip()
        if spec.widget in (Widget.TEXT, Widget.TEXTAREA, Widget.DEPARTMENT):
            if len(value) > spec.max_length:
                result.errors[spec.name] = tr.gettext("Too long: at most %(max)s characters.", max=spec.max_length)
            elif value:
                data[spec.name] = value
            elif spec.required:
                result.errors[spec.name] = tr.gettext("Required.")
        elif spec.widget is Widget.CHECKBOX:
            data[spec.name] = spec.name in form
            if spec.required and not data[spec.name]:
                result.errors[spec.name] = tr.gettext("Required.")
        elif spec.widget is Widget.CHOICES:
            data[spec.name] = form.all(spec.name)
        elif spec.widget is Widget.DEPARTMENTS:
            data[spec.name] = [part.strip() for part in form.all(spec.name) if part.strip()]
        elif spec.widget is Widget.DECISION:
            if value not in ("true", "false"):
                result.errors[spec.name] = tr.gettext("Choose one of the options.")
            data[spec.name] = value == "true"
    if action is Action.MERGE_INTO:
        result.data = data  # the case number becomes a complaint id once it is looked up
        return result
    try:
        ACTION_DATA[action].model_validate(data)
    except ValidationError as exc:
        rename = {"_form": "comment"} if action is Action.MANAGER_APPROVAL else None
        for name, problem in field_errors(exc, tr, rename).items():
            result.errors.setdefault(name, problem)
    result.data = data
    return result
