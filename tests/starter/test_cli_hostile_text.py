"""Hostile text and dates through the `complaints` command, as a service runs it (subprocesses against the dev
server, PostgreSQL and a worker): issue 10, rows 1, 2, 7 and 12. Each is refused with one line naming the field,
starts nothing, and leaves a running complaint able to take valid actions."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from cli_support import Result, complaints
from samples import make_intake

pytestmark = [pytest.mark.temporal, pytest.mark.postgres, pytest.mark.usefixtures("worker")]

AGENT = ("--actor", "agent.lan", "--role", "agent")


@pytest.fixture
def env(server_env: dict[str, str], worker: subprocess.Popen[str]) -> dict[str, str]:
    return server_env


def one_line(result: Result) -> str:
    """The refusal: exit 1, nothing on stdout, exactly one line on stderr and no traceback."""
    assert (result.status, result.stdout) == (1, ""), result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


async def assert_not_started(complaint_id: str, env: dict[str, str], database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", complaint_id) == 0
    finally:
        await connection.close()
    shown = complaints("show", complaint_id, env=env)
    assert shown.status == 1 and "not found" in shown.stderr, shown.stderr


async def test_row_1_a_nul_in_a_note_is_refused_and_the_complaint_moves_on(env: dict[str, str]) -> None:
    started = complaints("start", "-", stdin=json.dumps(make_intake()), env=env)
    assert started.status == 0, started.stderr
    cid = started.json()["complaint_id"]

    refused = complaints("act", cid, "add_note", *AGENT, "--data", '{"text":"a \\u0000 b"}', env=env)
    line = one_line(refused)
    assert line.startswith("complaints act: data.text: ") and "U+0000" in line

    noted = complaints("act", cid, "add_note", *AGENT, "--data", '{"text": "a b"}', "--timeout", "30", env=env)
    assert noted.status == 0, noted.stderr
    acknowledged = complaints("act", cid, "acknowledge", *AGENT, "--timeout", "30", env=env)
    assert acknowledged.status == 0, acknowledged.stderr
    assert acknowledged.json()["stage"] == "analysing"
    timeline = complaints("show", cid, env=env).json()["timeline"]
    assert [e["kind"] for e in timeline] == ["received", "add_note", "acknowledge"]


async def test_row_1_a_nul_in_a_description_starts_nothing(env: dict[str, str], database_url: str) -> None:
    intake = make_intake(description="VPS mất kết nối \x00 từ 8 giờ")
    line = one_line(complaints("start", "-", stdin=json.dumps(intake), env=env))
    assert line.startswith("complaints start: description: ") and "U+0000" in line
    await assert_not_started(intake["complaint_id"], env, database_url)


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00:00+07:00", "1000-06-01T08:00:00+07:00"])
async def test_row_2_a_receipt_the_calendar_cannot_count_starts_nothing(
    env: dict[str, str], database_url: str, received_at: str
) -> None:
    intake = make_intake(received_at=received_at, channel="letter")
    line = one_line(complaints("start", "-", stdin=json.dumps(intake), env=env))
    assert line == (
        "complaints start: received_at: must be between 2000-01-01 and 2098-12-31"
        " (the dates the working-day calendar knows)"
    )
    await assert_not_started(intake["complaint_id"], env, database_url)


async def test_row_2_a_receipt_before_the_window_starts_nothing(env: dict[str, str], database_url: str) -> None:
    intake = make_intake(received_at=(datetime.now(UTC) - timedelta(days=61)).isoformat(), channel="letter")
    line = one_line(complaints("start", "-", stdin=json.dumps(intake), env=env))
    assert line.startswith("complaints start: received_at: must not be more than 60 days before now")
    await assert_not_started(intake["complaint_id"], env, database_url)


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00:00+07:00", "1000-06-01T08:00:00+07:00", "9999-12-31T23:59Z"])
def test_row_2_deadline_answers_a_year_out_of_range_with_one_line(env: dict[str, str], received_at: str) -> None:
    line = one_line(complaints("deadline", "--received-at", received_at, env=env))
    assert line == (
        "complaints deadline: received_at must be between 2000-01-01 and 2098-12-31"
        " (the dates the working-day calendar knows)"
    )


async def test_row_7_an_email_that_is_two_recipients_starts_nothing(env: dict[str, str], database_url: str) -> None:
    intake = make_intake(customer={"name": "Trần Thị Bích", "email": "customer@example.vn,bob"})
    line = one_line(complaints("start", "-", stdin=json.dumps(intake), env=env))
    assert line.startswith("complaints start: customer.email: must be one e-mail address")
    await assert_not_started(intake["complaint_id"], env, database_url)


@pytest.mark.parametrize(
    ("char", "problem"),
    [
        ("\u202e", "must not contain characters that change the text's direction (found U+202E)"),
        ("\u200b", "must not contain invisible characters or line breaks (found U+200B)"),
        ("\ufeff", "must not contain invisible characters or line breaks (found U+FEFF)"),
        ("\u2028", "must not contain invisible characters or line breaks (found U+2028)"),
    ],
)
@pytest.mark.parametrize("field", ["customer.name", "subject"])
async def test_row_12_spoofing_characters_in_names_and_subjects_start_nothing(
    env: dict[str, str], database_url: str, char: str, problem: str, field: str
) -> None:
    spoofed = f"Trần{char}Bích"
    intake = make_intake(subject=spoofed) if field == "subject" else make_intake()
    if field == "customer.name":
        intake["customer"]["name"] = spoofed
    as_utf8 = json.dumps(intake, ensure_ascii=False)  # the raw character, not a JSON escape
    assert one_line(complaints("start", "-", stdin=as_utf8, env=env)) == f"complaints start: {field}: {problem}"
    await assert_not_started(intake["complaint_id"], env, database_url)
