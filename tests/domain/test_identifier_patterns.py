"""The identifier patterns `domain.models` defines once: which complaint ids, department codes, case numbers and
request ids exist. The web form and the CLI match raw values against the same patterns the pydantic types use,
so a value one door takes must be a value every door takes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from domain.fields import (
    CASE_NUMBER_PATTERN,
    COMPLAINT_ID_PATTERN,
    DEPARTMENT_CODE_PATTERN,
    REQUEST_ID_PATTERN,
    ComplaintId,
    DepartmentCode,
    RequestId,
)


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        (
            COMPLAINT_ID_PATTERN,
            ["ticket-48213", "a", "0f3c9a", "msg.2026_01-x", "A" * 100],
            ["", "-ticket", ".hidden", "an@example.vn", "Nguyễn", "a b", "a/b", "a:b", "A" * 101, "abc\n"],
        ),
        (
            DEPARTMENT_CODE_PATTERN,
            ["customer_care", "network", "it", "d0123456789", "a" * 40],
            ["", "a", "Network", "_care", "9lives", "bộ_phận", "customer-care", "a" * 41, "network\n"],
        ),
        (
            CASE_NUMBER_PATTERN,
            ["KN-2026-000001", "KN-2027-999999", "KN-2026-1234567"],
            ["", "KN-2026-00001", "KN-26-000001", "kn-2026-000001", "KN-٢٠٢٦-٠٠٠٠٠١", "KN-2026-000001 ", "KN-2026-"],
        ),
        (
            REQUEST_ID_PATTERN,
            ["web:0f3c9a", "0f3c9a2b", "cli.retry-1_a", "x" * 128],
            ["", "web 1", "web:1/2", "x" * 129, "web:1\n", "yêu-cầu"],
        ),
    ],
    ids=["complaint id", "department code", "case number", "request id"],
)
def test_each_pattern_accepts_its_identifiers_whole(
    pattern: re.Pattern[str], accepted: list[str], refused: list[str]
) -> None:
    assert [value for value in accepted if not pattern.fullmatch(value)] == []
    assert [value for value in refused if pattern.fullmatch(value)] == []


COMPLAINT_ID: TypeAdapter[str] = TypeAdapter(ComplaintId)
DEPARTMENT: TypeAdapter[str] = TypeAdapter(DepartmentCode)
REQUEST_ID: TypeAdapter[str] = TypeAdapter(RequestId)


def _takes(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


# Characters each identifier uses, its neighbours that it refuses, and the ones a regex treats specially.
IDENTIFIER_TEXT = st.text(alphabet="aZz09._-:/ \n\tKN@ếé٣", max_size=12)


@settings(max_examples=300, deadline=None)
@given(value=IDENTIFIER_TEXT)
def test_the_models_accept_exactly_what_the_patterns_match(value: str) -> None:
    """The pydantic types anchor the shared patterns for pydantic's own regex engine: a value the web form lets
    through by `fullmatch` is never refused by the model behind it, nor the other way round."""
    assert _takes(COMPLAINT_ID, value) == bool(COMPLAINT_ID_PATTERN.fullmatch(value))
    assert _takes(REQUEST_ID, value) == bool(REQUEST_ID_PATTERN.fullmatch(value))
    # The department type strips surrounding blanks before it matches (a typed code may carry them).
    assert _takes(DEPARTMENT, value) == bool(DEPARTMENT_CODE_PATTERN.fullmatch(value.strip(" \n\t")))
