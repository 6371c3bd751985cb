"""`complaints` end to end, as a service calls it: subprocesses against the dev server, PostgreSQL and a worker."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, time, timedelta

import pytest
from cli_support import complaints
from samples import make_intake

from domain.calendar import BUSINESS_TZ, WorkingCalendar
from domain.deadlines import compute_deadlines

pytestmark = [pytest.mark.temporal, pytest.mark.postgres, pytest.mark.usefixtures("worker")]

AGENT = ("--actor", "agent.lan", "--role", "agent")


@pytest.fixture
def env(server_env: dict[str, str], worker: subprocess.Popen[str]) -> dict[str, str]:
    return server_env


def test_a_complaint_through_the_command_line(env: dict[str, str]) -> None:
    intake = make_intake()
    cid = intake["complaint_id"]

    started = complaints("start", "-", stdin=json.dumps(intake), env=env)
    assert started.status == 0, started.stderr
    out = started.json()
    assert re.fullmatch(r"KN-\d{4}-\d{6}", out["case_number"])
    assert out["complaint_id"] == cid
    assert out["workflow_id"] == f"complaint-{cid}"
    assert out["stage"] == "received"
    for instant in ("received_at", "first_response_due", "resolution_due"):
        assert out[instant].endswith("Z"), out[instant]

    acknowledged = complaints("act", cid, "acknowledge", *AGENT, "--data", '{"message": "Đã nhận"}', env=env)
    assert acknowledged.status == 0, acknowledged.stderr
    assert acknowledged.json()["stage"] == "analysing"
    assert acknowledged.json()["first_responded_at"] is not None
    assert "request_info" in acknowledged.json()["allowed_actions"]

    refused = complaints(
        "act", cid, "close", *AGENT, "--data", '{"summary": "xong", "lessons_learned": "không"}', env=env
    )
    assert (refused.status, refused.stdout) == (1, "")
    assert refused.stderr.strip() == "complaints act: close is not allowed while the complaint is analysing"

    bad_data = complaints("act", cid, "request_info", *AGENT, "--data", '{"message": "gửi ảnh"}', env=env)
    assert bad_data.status == 1
    assert "missing" in bad_data.stderr

    no_text = complaints("act", cid, "add_note", *AGENT, "--data", "{}", env=env)
    assert no_text.status == 1 and "text" in no_text.stderr

    wrong_role = complaints("act", cid, "manager_approval", *AGENT, "--data", '{"approved": true}', env=env)
    assert wrong_role.status == 1
    assert "needs the role manager, not agent" in wrong_role.stderr

    shown = complaints("show", cid, env=env)
    assert shown.status == 0, shown.stderr
    state = shown.json()
    assert state["stage"] == "analysing"
    assert state["case_number"] == out["case_number"]
    assert state["resolution_due"] == out["resolution_due"]
    assert (state["first_response_breached"], state["resolution_breached"]) == (False, False)
    assert (state["escalation_level"], state["cycle"]) == (0, 1)
    assert "acknowledge" not in state["allowed_actions"]
    assert {"request_info", "transfer", "withdraw"} <= set(state["allowed_actions"])
    assert [e["kind"] for e in state["timeline"]] == ["received", "acknowledge"]
    assert state["timeline"][-1]["door"] == "cli"

    as_system = complaints("show", cid, "--role", "system", env=env).json()
    assert "transfer" not in as_system["allowed_actions"]
    assert "withdraw" in as_system["allowed_actions"]

    analysing = complaints("list", "--stage", "analysing", env=env)
    assert analysing.status == 0, analysing.stderr
    [row] = [row for row in analysing.json() if row["complaint_id"] == cid]
    assert row["case_number"] == out["case_number"]
    assert row["resolution_due_date"] == out["resolution_due_date"]
    received = complaints("list", "--stage", "received", "--department", "customer_care", env=env).json()
    assert cid not in [row["complaint_id"] for row in received]


def test_starting_the_same_complaint_twice_returns_it(env: dict[str, str]) -> None:
    intake = json.dumps(make_intake())
    first = complaints("start", "-", stdin=intake, env=env)
    second = complaints("start", "-", stdin=intake, env=env)
    assert (first.status, second.status) == (0, 0), first.stderr + second.stderr
    assert second.json()["case_number"] == first.json()["case_number"]
    assert second.json()["received_at"] == first.json()["received_at"]


def test_a_given_receipt_sets_the_promised_deadlines(env: dict[str, str]) -> None:
    # inside the receipt window (60 days before now); `complaints deadline` pins hand-checked dates (test_cli.py)
    day = (datetime.now(BUSINESS_TZ) - timedelta(days=30)).date()
    received = datetime.combine(day, time(17, 0), tzinfo=BUSINESS_TZ)
    expected = compute_deadlines(received, WorkingCalendar())
    intake = make_intake(received_at=received.isoformat(), channel="letter")
    out = complaints("start", "-", stdin=json.dumps(intake), env=env).json()
    assert out["received_at"] == f"{day.isoformat()}T10:00:00Z"
    assert out["first_response_due"] == f"{(day + timedelta(days=1)).isoformat()}T10:00:00Z"
    due_date = expected.resolution_due_date.isoformat()
    assert (out["resolution_due_date"], out["resolution_due"]) == (due_date, f"{due_date}T17:00:00Z")
    assert out["case_number"].startswith(f"KN-{day.year}-")


def test_a_repeated_request_id_applies_once(env: dict[str, str]) -> None:
    cid = complaints("start", "-", stdin=json.dumps(make_intake()), env=env).json()["complaint_id"]
    for _ in range(2):
        noted = complaints(
            "act",
            cid,
            "add_note",
            *AGENT,
            "--data",
            '{"text": "gọi lại lúc 3h"}',
            "--request-id",
            f"note-{cid}",
            env=env,
        )
        assert noted.status == 0, noted.stderr
    kinds = [e["kind"] for e in complaints("show", cid, env=env).json()["timeline"]]
    assert kinds == ["received", "add_note"]


def test_bad_intake_starts_nothing(env: dict[str, str]) -> None:
    intake = make_intake(channel="fax")
    refused = complaints("start", "-", stdin=json.dumps(intake), env=env)
    assert refused.status == 1 and "channel" in refused.stderr
    missing = complaints("show", intake["complaint_id"], env=env)
    assert missing.status == 1
    assert "not found" in missing.stderr


def test_an_unknown_complaint(env: dict[str, str]) -> None:
    shown = complaints("show", "no-such-complaint", env=env)
    assert (shown.status, shown.stdout) == (1, "")
    assert "complaint no-such-complaint not found" in shown.stderr
    acted = complaints("act", "no-such-complaint", "acknowledge", *AGENT, env=env)
    assert (acted.status, acted.stdout) == (1, "")
    assert "complaint no-such-complaint is not open" in acted.stderr


def test_an_ended_complaint(env: dict[str, str]) -> None:
    intake = make_intake()
    cid = complaints("start", "-", stdin=json.dumps(intake), env=env).json()["complaint_id"]
    withdrawn = complaints(
        "act", cid, "withdraw", "--actor", "crm", "--role", "system", "--data", '{"reason": "khách rút đơn"}', env=env
    )
    assert withdrawn.status == 0, withdrawn.stderr
    assert withdrawn.json()["stage"] == "withdrawn"
    assert withdrawn.json()["allowed_actions"] == []

    late = complaints("act", cid, "add_note", *AGENT, "--data", '{"text": "muộn"}', env=env)
    assert (late.status, late.stdout) == (1, "")
    assert f"complaint {cid} is not open" in late.stderr

    assert complaints("show", cid, env=env).json()["stage"] == "withdrawn"
    again = complaints("start", "-", stdin=json.dumps(intake), env=env)
    assert (again.status, again.json()["stage"]) == (0, "withdrawn")


def test_no_worker_answering_is_worth_a_retry(env: dict[str, str]) -> None:
    nobody = {**env, "COMPLAINTS_TASK_QUEUE": "nobody-polls-this"}
    intake = make_intake()
    result = complaints("start", "-", "--timeout", "2", stdin=json.dumps(intake), env=nobody)
    assert (result.status, result.stdout) == (3, ""), result.stderr
    assert "no worker answered within 2s; it is started" in result.stderr
    cid = intake["complaint_id"]
    acted = complaints("act", cid, "acknowledge", *AGENT, "--request-id", "ack-1", "--timeout", "2", env=nobody)
    assert (acted.status, acted.stdout) == (3, ""), acted.stderr
    assert "sending it again with --request-id ack-1 is safe" in acted.stderr
