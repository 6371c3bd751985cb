"""The thread's pure rules: the case tag once in a subject, found again in a reply, References trimmed."""

from __future__ import annotations

import pytest

from domain.mail_thread import MAX_REFERENCES, case_numbers_in, references, tagged_subject

CASE = "KN-2026-000123"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Xác nhận tiếp nhận khiếu nại", "[KN-2026-000123] Xác nhận tiếp nhận khiếu nại"),
        ("[KN-2026-000123] Trả lời khiếu nại", "[KN-2026-000123] Trả lời khiếu nại"),
        ("Re: [KN-2026-000123] Trả lời khiếu nại", "Re: [KN-2026-000123] Trả lời khiếu nại"),
        ("RE: Fwd:  Cước   sai [KN-2026-000123] [KN-2026-000123]", "RE: Fwd: [KN-2026-000123] Cước sai"),
        ("Re: [KN-2026-000999] other case", "Re: [KN-2026-000123] [KN-2026-000999] other case"),
        ("", "[KN-2026-000123]"),
    ],
)
def test_the_case_tag_is_in_a_subject_exactly_once(subject: str, expected: str) -> None:
    tagged = tagged_subject(subject, CASE)
    assert tagged == expected
    assert tagged.count(f"[{CASE}]") == 1
    assert tagged_subject(tagged, CASE) == tagged  # idempotent: a reply to a reply keeps one tag


def test_a_reply_names_its_case_in_the_subject() -> None:
    assert case_numbers_in("Re: [KN-2026-000123] Trả lời khiếu nại") == [CASE]
    assert case_numbers_in("KN-2026-000123 without brackets") == []


def test_references_keep_the_root_and_the_latest() -> None:
    assert references(None, []) == []
    assert references("<root@x>", ["<a@y>", "<b@y>"]) == ["<root@x>", "<a@y>", "<b@y>"]
    earlier = [f"<m{i}@y>" for i in range(30)]
    trimmed = references("<root@x>", earlier)
    assert len(trimmed) == MAX_REFERENCES
    assert trimmed[0] == "<root@x>" and trimmed[-1] == "<m29@y>"
