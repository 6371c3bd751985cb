"""The fields every model of the domain is made of: bounded texts under the text policy, the identifiers' shapes,
and the two bases (`Strict` for what a door sends, `Recorded` for what Temporal hands back).

Each identifier's pattern is defined once here; code that checks a value outside a model (a URL path, a search box,
a query parameter) calls `fullmatch` on it, so the web form, the CLI and the workflow never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from domain.text import TextRefused, email_address, long_text, short_text

MAX_DESCRIPTION_CHARS = 10_000
MAX_TEXT_CHARS = 5_000
MAX_SHORT_TEXT_CHARS = 200
MAX_ADDRESS_CHARS = 500
MAX_EMAIL_CHARS = 254


READING_RECORD: ContextVar[bool] = ContextVar("reading_record", default=False)
"""True while a recorded value is read back (a workflow's input, its carried state, an activity's input): see
`Recorded`."""


def _text_policy(policy: Callable[[str], str]) -> Callable[[Any], Any]:
    """A pydantic validator applying a `domain.text` policy before anything else sees the text: a refusal is a
    validation error whose type is the policy's code, and the field's length limits then judge the normalised
    text (NFC may change its length; trimming is the policy's, so a trailing control character is refused
    rather than silently trimmed)."""

    def validate(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):  # pydantic would decode them after this check: decode first
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return value  # pydantic refuses it as not a valid string
        if not isinstance(value, str):
            return value  # pydantic refuses it as not a string
        try:
            return policy(value)
        except TextRefused as refused:
            if READING_RECORD.get():
                return value  # accepted at its door under an older policy: read it back as it was written
            raise refused.as_validation_error() from None

    return validate


ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT_CHARS),
    BeforeValidator(_text_policy(short_text)),
]
"""A name, subject or label: one line of visible characters (see `domain.text`)."""
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), BeforeValidator(_text_policy(long_text))
]
"""A note, reply or reason: lines and tabs kept, controls and direction overrides refused."""
Description = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_DESCRIPTION_CHARS),
    BeforeValidator(_text_policy(long_text)),
]
Address = Annotated[str, StringConstraints(max_length=MAX_ADDRESS_CHARS), BeforeValidator(_text_policy(long_text))]
"""A postal address may take several lines, as it is written on a letter."""
# The one definition of each identifier's shape. The pydantic types below use these, and code that checks a value
# outside a model (a URL path, a search box, a query parameter) calls `fullmatch` on them, so the web form, the
# CLI and the workflow can never disagree about which ids can exist.
COMPLAINT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""Letters, digits, `.`, `_`, `-`: a ticket number or a hash of a Message-ID, never an e-mail address or a name."""
DEPARTMENT_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,39}")
"""A department's code as stored and sent (`customer_care`), not its name: lower-case ASCII, so it is safe in a
URL, a search attribute and a setting's name."""
CASE_NUMBER_PATTERN = re.compile(r"KN-[0-9]{4}-[0-9]{6,}")
"""`KN-<local year of receipt>-<sequence, at least 6 digits>`, as the record store numbers complaints (a seventh
digit once the sequence passes 999,999); ASCII digits only, so digits of another script are searched as text,
not looked up as a case number."""
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""An action's idempotency key (`web:<hex>`, a uuid's hex): short and plain, as it is logged and stored."""


def _whole(pattern: re.Pattern[str]) -> str:
    """The pattern for pydantic: its regex engine searches, so it is anchored to accept what `fullmatch` accepts
    (pydantic's `$`, unlike Python's, does not let a trailing newline through)."""
    return f"^{pattern.pattern}$"


DepartmentCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=_whole(DEPARTMENT_CODE_PATTERN)),
]
ComplaintId = Annotated[str, StringConstraints(pattern=_whole(COMPLAINT_ID_PATTERN))]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ().-]{6,20}$")]
Email = Annotated[str, StringConstraints(max_length=MAX_EMAIL_CHARS), BeforeValidator(_text_policy(email_address))]
"""Exactly one address, in its normalised form: `a@b.vn,bob` would send the customer's messages to two people."""
RequestId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_whole(REQUEST_ID_PATTERN))]


class Strict(BaseModel):
    """Unknown fields are mistakes a caller should hear about, not silently drop."""

    model_config = ConfigDict(extra="forbid")


class Recorded(Strict):
    """A value Temporal has recorded and hands back: a workflow's input (replayed from its history), its carried
    state, an activity's input. Its texts passed the text policy at their door, possibly an older, laxer one;
    refusing them when they are read back would fail every later workflow task or activity of that complaint, so
    inside a recorded value the text policy reads texts as they were written. Doors validate `Intake` and
    `ActionRequest` themselves, strictly; receipt dates stay bounded everywhere (they feed the clocks)."""

    @model_validator(mode="wrap")
    @classmethod
    def _as_recorded(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if READING_RECORD.get():
            return handler(data)  # inside a recorded value already: the outermost one resets the flag
        token = READING_RECORD.set(True)
        try:
            return handler(data)
        finally:
            READING_RECORD.reset(token)
