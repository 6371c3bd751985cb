"""Hostile text and dates through the web intake form over HTTP (issue 10, rows 1, 2, 7 and 12): each answers
422 with the problem next to the field, in the reader's language, and starts nothing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from web_support import SignIn, csrf_of, intake_form, take_in

from domain.calendar import BUSINESS_TZ

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


async def refused(agent: httpx.AsyncClient, pool: asyncpg.Pool, lang: str = "vi", **fields: str) -> dict[str, str]:
    """Post the intake with `fields`; assert it answers 422 and starts nothing; return each field's problem."""
    before = await pool.fetchval("SELECT count(*) FROM complaints")
    page = await agent.get(f"/complaints/new?lang={lang}")
    response = await agent.post(
        f"/complaints/new?lang={lang}", data={"csrf_token": csrf_of(page.text), **intake_form(**fields)}
    )
    assert response.status_code == 422, response.text[:500]
    assert await pool.fetchval("SELECT count(*) FROM complaints") == before
    return {name: html.unescape(problem) for name, problem in re.findall(r'id="error-([^"]+)">([^<]*)<', response.text)}


async def test_row_1_a_nul_in_the_description(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    problems = await refused(agent, pool, description="VPS mất kết nối \x00 từ 8 giờ")
    assert problems == {"description": "Không được chứa ký tự điều khiển (U+0000)."}
    in_english = await refused(agent, pool, lang="en", description="a \x00 b")
    assert in_english == {"description": "Must not contain control characters (U+0000)."}


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00", "1000-06-01T08:00", "0001-01-01T00:00:00+07:00"])
async def test_row_2_a_receipt_the_calendar_cannot_count(
    signed_in: SignIn, pool: asyncpg.Pool, received_at: str
) -> None:
    agent = await signed_in("agent")
    problems = await refused(agent, pool, channel="letter", received_at=received_at)
    assert problems == {"received_at": "Phải nằm trong khoảng từ 2000-01-01 đến 2098-12-31."}


async def test_row_2_a_receipt_before_the_window(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    long_ago = (datetime.now(UTC) - timedelta(days=61)).astimezone(BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M")
    problems = await refused(agent, pool, channel="letter", received_at=long_ago)
    assert problems == {"received_at": "Không được sớm hơn 60 ngày trước."}
    in_english = await refused(agent, pool, lang="en", channel="letter", received_at=long_ago)
    assert in_english == {"received_at": "Must not be more than 60 days ago."}
    inside = (datetime.now(UTC) - timedelta(days=59)).astimezone(BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M")
    cid = await take_in(agent, channel="letter", received_at=inside)
    received = await pool.fetchval("SELECT received_at FROM complaints WHERE complaint_id = $1", cid)
    assert timedelta(days=58) < datetime.now(UTC) - received < timedelta(days=60)


@pytest.mark.parametrize("email", ["customer@example.vn,bob", "Bích <customer@example.vn>", "customer@ex ample.vn"])
async def test_row_7_an_email_that_is_not_one_address(signed_in: SignIn, pool: asyncpg.Pool, email: str) -> None:
    agent = await signed_in("agent")
    problems = await refused(agent, pool, **{"customer.email": email, "customer.phone": ""})
    assert problems == {"customer.email": "Phải là đúng một địa chỉ email."}


async def test_an_email_is_kept_normalised(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent, **{"customer.email": "Bich@EXAMPLE.VN", "customer.phone": ""})
    stored = await pool.fetchval("SELECT customer ->> 'email' FROM complaints WHERE complaint_id = $1", cid)
    assert stored == "Bich@example.vn"


@pytest.mark.parametrize(
    ("char", "problem"),
    [
        ("\u202e", "Không được chứa ký tự đổi chiều văn bản (U+202E)."),
        ("\u200b", "Không được chứa ký tự vô hình hoặc xuống dòng (U+200B)."),
        ("\ufeff", "Không được chứa ký tự vô hình hoặc xuống dòng (U+FEFF)."),
        ("\u2028", "Không được chứa ký tự vô hình hoặc xuống dòng (U+2028)."),
    ],
)
async def test_row_12_spoofing_characters_in_the_name_and_subject(
    signed_in: SignIn, pool: asyncpg.Pool, char: str, problem: str
) -> None:
    agent = await signed_in("agent")
    problems = await refused(agent, pool, **{"customer.name": f"Nguyễn{char}Văn An", "subject": f"Hóa đơn{char}gpj"})
    assert problems == {"customer.name": problem, "subject": problem}


async def test_decomposed_vietnamese_is_taken_in_composed(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent, **{"customer.name": "Nguye\u0302\u0303n Va\u0306n An"})
    stored = await pool.fetchval("SELECT customer ->> 'name' FROM complaints WHERE complaint_id = $1", cid)
    assert stored == "Nguyễn Văn An"
