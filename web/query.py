"""Query strings: every parameter a page reads passes the domain's text policy and its own bounds.

A link is typed, pasted and forged by anyone, and what it carries goes on to PostgreSQL (which refuses a NUL),
to SQL `OFFSET` (which refuses a number past 64 bits) and back into the page. So a parameter that cannot be
taken is a 400 that names it, decided here before anything reads it, never a 500 from whatever reads it next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from domain.text import TextRefused, short_text

MAX_QUERY_STRING_CHARS = 2048
"""The whole query string, decoded: the inbox's longest link (a search and three filters) is a tenth of it."""
MAX_PAGE = 10_000
"""The highest page number any paged list takes: 10,000 pages of 25 or 50 is more than one list ever holds."""
PAGE_NUMBER = re.compile(r"[0-9]{1,5}")
"""ASCII digits only (`int` would also take `²`, `٣` or `1_0`), short enough to stay far below 64 bits."""


MAX_SEARCH_CHARS = 100
"""The longest search a page takes (`q`): a few words, not a document."""


class QueryRefused(ValueError):
    """A query parameter a page cannot take; answered 400 with `parameter` and `problem` (English)."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


def check_query(params: Mapping[str, str]) -> None:
    """Every name and value through `short_text` (no NUL, controls, invisible or bidi characters), bounded in
    length: whatever a page later reads from the query string is at least a visible line of text."""
    total = 0
    for name, value in params.items():
        try:
            short_text(name)
        except TextRefused as refused:
            raise QueryRefused(ascii(name)[:40], f"a parameter's name {refused.problem}") from None
        total += len(name) + len(value) + 2
        if total > MAX_QUERY_STRING_CHARS:
            raise QueryRefused(name[:40], f"the address is longer than {MAX_QUERY_STRING_CHARS} characters")
        try:
            short_text(value)
        except TextRefused as refused:
            raise QueryRefused(name, refused.problem) from None


def page_number(params: Mapping[str, str], name: str = "page") -> int:
    """A page number from 1 to `MAX_PAGE`; absent or empty is the first page."""
    value = params.get(name, "")
    if value == "":
        return 1
    if not PAGE_NUMBER.fullmatch(value) or not 1 <= int(value) <= MAX_PAGE:
        raise QueryRefused(name, f"must be a whole number from 1 to {MAX_PAGE}")
    return int(value)


def one_of(params: Mapping[str, str], name: str, choices: frozenset[str], default: str) -> str:
    """A value from a fixed list (a stage, a channel); absent or empty is `default`."""
    value = params.get(name, "")
    if value == "":
        return default
    if value not in choices:
        raise QueryRefused(name, "is not one of the values this page offers")
    return value


def search_text(params: Mapping[str, str], name: str = "q") -> str:
    """A search typed into a page: through the text policy, its spaces folded to single ones, and short."""
    try:
        text = " ".join(short_text(params.get(name, "")).split())
    except TextRefused as refused:
        raise QueryRefused(name, refused.problem) from None
    if len(text) > MAX_SEARCH_CHARS:
        raise QueryRefused(name, f"must be at most {MAX_SEARCH_CHARS} characters")
    return text
