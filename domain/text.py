"""The text policy every door applies to free text: web form, command line, client SDK, signals, mail, portal.

One place decides what text a complaint may hold, so a character that PostgreSQL refuses (NUL), that breaks a
mail header (a line break in a subject) or that spoofs what an agent reads (a right-to-left override in a name)
is refused at the door with the field's name, before anything is started or written; and whatever is accepted
is stored, shown and rendered back exactly as normalised here.

- Every text is NFC-normalised: Vietnamese typed on different keyboards arrives composed or decomposed, and the
  same name must compare, search and print the same.
- Short texts (names, subjects, actors, services): one line, no control characters, no invisible or
  direction-changing format characters (zero-width spaces, U+FEFF, bidi overrides), no line separators.
- Long texts (descriptions, notes, replies): line breaks (CR LF, CR, U+2028, U+2029 become LF) and tabs are kept;
  every other control character, lone surrogates and bidi overrides are refused. Joiners stay (emoji need them).

- E-mail addresses: exactly one address, checked by `email-validator` (no lists, display names, quoting, spaces or
  bracketed IP addresses, since each would change who a message reaches), stored in its normalised form.

Each refusal is a `TextRefused` with a stable `code` (the doors word it in their own language) and the problem in
English; inside a pydantic model it surfaces as a validation error of that type at the field's location.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic_core import PydanticCustomError

__all__ = [
    "BIDI_CONTROLS",
    "MAX_DATA_DEPTH",
    "TextRefused",
    "check_data_shape",
    "email_address",
    "long_text",
    "short_text",
]

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Marks, embeddings, overrides and isolates: they reorder what is displayed around them."""

LINE_BREAKS = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n"}
"""How every kind of line break is stored in a long text: one LF."""

SHORT_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Controls, invisible format characters, lone surrogates and line or paragraph separators."""

MAX_DATA_DEPTH = 6
"""How deeply an action's data may nest: the deepest action model needs 2; more is an attack on a parser."""


class TextRefused(ValueError):
    """A text the policy refuses. `code` is stable (`text_control_character`, `text_invisible_character`,
    `text_bidi_control`, `text_surrogate`, `email_invalid`, `data_too_deep`); `params` hold what a door needs to
    word it."""

    def __init__(self, code: str, problem: str, **params: Any) -> None:
        super().__init__(problem)
        self.code = code
        self.problem = problem
        self.params = params
        self.loc: tuple[str | int, ...] | None = None
        """Where in nested data the refused text is, when `check_data_shape` found it."""

    def as_validation_error(self) -> PydanticCustomError:
        """For pydantic validators: the error's type is the code, so a door renders it without parsing English."""
        return PydanticCustomError(self.code, self.problem, dict(self.params))


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def _refuse_char(char: str, *, short: bool) -> TextRefused | None:
    category = unicodedata.category(char)
    if category == "Cs":
        return TextRefused(
            "text_surrogate", f"contains {_codepoint(char)}, half of a character", character=_codepoint(char)
        )
    if category == "Cc" and (short or char not in "\n\t"):
        allowed = "" if short else " other than line breaks and tabs"
        return TextRefused(
            "text_control_character",
            f"must not contain control characters{allowed} (found {_codepoint(char)})",
            character=_codepoint(char),
        )
    if char in BIDI_CONTROLS:
        return TextRefused(
            "text_bidi_control",
            f"must not contain characters that change the text's direction (found {_codepoint(char)})",
            character=_codepoint(char),
        )
    if short and category in SHORT_REFUSED_CATEGORIES:
        return TextRefused(
            "text_invisible_character",
            f"must not contain invisible characters or line breaks (found {_codepoint(char)})",
            character=_codepoint(char),
        )
    return None


def _check(value: str, *, short: bool) -> str:
    for char in value:
        if char.isprintable() and char not in BIDI_CONTROLS:
            continue  # the common case, decided without a category lookup
        refused = _refuse_char(char, short=short)
        if refused is not None:
            raise refused
    return value


def short_text(value: str) -> str:
    """A name, subject or label: NFC, trimmed, one line of visible characters; else `TextRefused`."""
    _check(value, short=True)  # before normalising: NFC must not hide what was sent
    return unicodedata.normalize("NFC", value).strip()


def long_text(value: str) -> str:
    """A description, note or reply: NFC, trimmed, line breaks as LF, tabs kept; else `TextRefused`."""
    for sequence, replacement in LINE_BREAKS.items():
        value = value.replace(sequence, replacement)
    _check(value, short=False)
    return unicodedata.normalize("NFC", value).strip()


@lru_cache(maxsize=4096)
def email_address(value: str) -> str:
    """One e-mail address in its normalised form (domain lower-cased, NFC); else `TextRefused` (`email_invalid`).

    Deliverability is not checked: that needs DNS, which a door must not wait on and the workflow must not do.
    Remembered, because a complaint's intake is validated again with every activity input and state it rides in.
    """
    address = short_text(value)
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise TextRefused("email_invalid", f"must be one e-mail address ({exc})", reason=str(exc)) from None


def check_data_shape(value: Any, depth: int = 0, *, loc: tuple[str | int, ...] = ()) -> None:
    """JSON-like data no deeper than `MAX_DATA_DEPTH`, every key a short text and every string a long one: a door
    may pass arbitrary JSON on to an action's model, and a document nested thousands deep would exhaust the
    recursion of whatever reads it next. A refusal's `loc` says where in the data it is (`("text",)`)."""
    try:
        if depth > MAX_DATA_DEPTH:
            raise TextRefused(
                "data_too_deep", f"nested more than {MAX_DATA_DEPTH} levels deep", max_depth=MAX_DATA_DEPTH
            )
        if isinstance(value, str):
            long_text(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str):
                    short_text(key)
                check_data_shape(item, depth + 1, loc=(*loc, key if isinstance(key, str | int) else str(key)))
        elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
            for index, item in enumerate(value):
                check_data_shape(item, depth + 1, loc=(*loc, index))
    except TextRefused as refused:
        if refused.loc is None:
            refused.loc = loc
        raise
