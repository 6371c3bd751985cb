"""The portal's signed case links: one complaint, until expiry, refused when altered by a single character."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.case_link import CaseLinkRefused, CaseLinks, LinkRefusal

KEY = b"k" * 32
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_a_link_opens_its_complaint_until_it_expires() -> None:
    links = CaseLinks(KEY, timedelta(days=90))
    token = links.sign("cmp-42.a_b", NOW)
    assert links.read(token, NOW) == "cmp-42.a_b"
    assert links.read(token, NOW + timedelta(days=90) - timedelta(seconds=1)) == "cmp-42.a_b"
    with pytest.raises(CaseLinkRefused) as refused:
        links.read(token, NOW + timedelta(days=90))
    assert refused.value.reason is LinkRefusal.EXPIRED


def test_another_key_or_another_complaint_is_refused() -> None:
    token = CaseLinks(KEY).sign("cmp-42", NOW)
    with pytest.raises(CaseLinkRefused) as refused:
        CaseLinks(b"x" * 32).read(token, NOW)
    assert refused.value.reason is LinkRefusal.MALFORMED
    _, expires, signature = token.split("~")
    with pytest.raises(CaseLinkRefused):
        CaseLinks(KEY).read(f"cmp-43~{expires}~{signature}", NOW)


def test_a_later_expiry_cannot_be_written_in() -> None:
    links = CaseLinks(KEY, timedelta(days=1))
    complaint, expires, signature = links.sign("cmp-42", NOW).split("~")
    later = f"{int(expires, 16) + 365 * 86400:x}"
    with pytest.raises(CaseLinkRefused) as refused:
        links.read(f"{complaint}~{later}~{signature}", NOW + timedelta(days=2))
    assert refused.value.reason is LinkRefusal.MALFORMED


@given(st.integers(min_value=0), st.characters(codec="ascii"))
def test_any_one_character_changed_is_refused(position: int, replacement: str) -> None:
    links = CaseLinks(KEY)
    token = links.sign("cmp-42", NOW)
    index = position % len(token)
    altered = token[:index] + replacement + token[index + 1 :]
    if altered == token:
        return
    with pytest.raises(CaseLinkRefused):
        links.read(altered, NOW)


@pytest.mark.parametrize("token", ["", "~~", "cmp~zz~sig", "a" * 500, "cmp-42~1~é", "../admin~1~x"])
def test_garbage_is_malformed(token: str) -> None:
    with pytest.raises(CaseLinkRefused) as refused:
        CaseLinks(KEY).read(token, NOW)
    assert refused.value.reason is LinkRefusal.MALFORMED


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CaseLinks(b"short")
