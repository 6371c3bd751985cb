"""The `complaints` command without any server: deadlines, schemas, and bad input refused before connecting."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_support import complaints
from samples import clean_env, make_intake

from complaints.cli import run
from complaints.command import EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from complaints.temporal_server import free_port
from domain.actions import ACTION_DATA
from domain.intake import Intake
from starter.codec import EncryptionKey, KeyRing

KEYS = KeyRing([EncryptionKey.generate("cli-test")]).to_spec()


@pytest.fixture(autouse=True)
def no_servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Nothing listens at TEMPORAL_ADDRESS: a command that tried to connect would fail with exit 3, not 1."""
    for name in ("DATABASE_URL", "COMPLAINTS_CALENDAR_FILE", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("COMPLAINTS_KEY_FILE", raising=False)
    monkeypatch.setenv("COMPLAINTS_ENCRYPTION_KEYS", KEYS)
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("COMPLAINTS_DATA_DIR", str(tmp_path / "data"))
    return address


def cli(capsys: pytest.CaptureFixture[str], *args: str, stdin: str | None = None) -> tuple[int, Any, str]:
    """Run in-process; (status, parsed stdout or None, stderr)."""
    if stdin is not None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stdin", io.StringIO(stdin))
            status = run(list(args))
    else:
        status = run(list(args))
    out, err = capsys.readouterr()
    return status, json.loads(out) if out.strip() else None, err


# ---- deadline ----


@pytest.mark.parametrize(
    ("received_at", "due_date"),
    [
        ("2026-02-13T17:00:00+07:00", "2026-03-20"),  # Tết 2026
        ("2026-08-21T09:00:00+07:00", "2026-09-22"),  # make-up Saturday 22 Aug, National Day
        ("2026-06-30T18:00:00+00:00", "2026-07-29"),  # 01:00 local: already 1 July
        ("2026-06-30T16:00:00Z", "2026-07-28"),  # 23:00 local: still 30 June
    ],
)
def test_deadline_hand_checked(capsys: pytest.CaptureFixture[str], received_at: str, due_date: str) -> None:
    status, out, _ = cli(capsys, "deadline", "--received-at", received_at)
    assert status == 0
    assert out["resolution_due_date"] == due_date


def test_deadline_prints_every_clock_in_utc(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "deadline", "--received-at", "2026-02-13T17:00:00+07:00")
    assert (status, err) == (0, "")
    assert out == {
        "received_at": "2026-02-13T10:00:00Z",
        "first_response_due": "2026-02-14T10:00:00Z",  # 24 clock hours, a Saturday inside Tết
        "resolution_due_date": "2026-03-20",
        "resolution_due": "2026-03-20T17:00:00Z",  # 24:00 local on the due date
        "resolution_warning_at": "2026-03-17T01:00:00Z",  # 08:00 local, 3 working days before
    }


def test_deadline_honours_the_company_calendar(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    received = "2026-01-07T09:00:00+07:00"
    assert cli(capsys, "deadline", "--received-at", received)[1]["resolution_due_date"] == "2026-02-04"

    calendar = tmp_path / "calendar.toml"
    calendar.write_text("extra_days_off = [2026-01-02]\nextra_working_days = [2026-01-10]\n")
    monkeypatch.setenv("COMPLAINTS_CALENDAR_FILE", str(calendar))
    assert cli(capsys, "deadline", "--received-at", received)[1]["resolution_due_date"] == "2026-02-03"


def test_deadline_refuses_a_broken_calendar_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calendar = tmp_path / "calendar.toml"
    calendar.write_text("extra_days_off = ['soon']\n")
    monkeypatch.setenv("COMPLAINTS_CALENDAR_FILE", str(calendar))
    status, out, err = cli(capsys, "deadline", "--received-at", "2026-01-07T09:00:00+07:00")
    assert (status, out) == (EXIT_REFUSED, None)
    assert str(calendar) in err and "extra_days_off" in err


@pytest.mark.parametrize(
    ("received_at", "problem"),
    [("2026-02-13T17:00:00", "time zone"), ("13/02/2026", "ISO 8601"), ("", "ISO 8601")],
)
def test_deadline_bad_received_at(capsys: pytest.CaptureFixture[str], received_at: str, problem: str) -> None:
    status, out, err = cli(capsys, "deadline", "--received-at", received_at)
    assert (status, out) == (EXIT_REFUSED, None)
    assert "received_at" in err and problem in err
    assert len(err.strip().splitlines()) == 1


# ---- schema ----


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def assert_closed_schema(schema: dict[str, Any]) -> None:
    """Structurally a JSON Schema a form or a service can use: an object, every `$ref` resolving inside it."""
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema.get("required", [])) <= set(schema["properties"])
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_schema_of_the_intake(capsys: pytest.CaptureFixture[str]) -> None:
    status, schema, _ = cli(capsys, "schema")
    assert status == 0
    assert schema == Intake.model_json_schema()
    assert_closed_schema(schema)
    assert set(schema["properties"]) == set(Intake.model_fields)
    assert set(schema["required"]) == {"customer", "channel", "subject", "description"}
    channel = schema["$defs"][schema["properties"]["channel"]["$ref"].rsplit("/", 1)[1]]
    assert "support_ticket" in channel["enum"]
    assert set(schema["$defs"]["Customer"]["properties"]) >= {"name", "phone", "email"}


@pytest.mark.parametrize("action", sorted(a.value for a in ACTION_DATA))
def test_schema_of_each_action(capsys: pytest.CaptureFixture[str], action: str) -> None:
    status, schema, _ = cli(capsys, "schema", action)
    assert status == 0
    assert_closed_schema(schema)


def test_schema_of_request_info_names_its_fields(capsys: pytest.CaptureFixture[str]) -> None:
    schema = cli(capsys, "schema", "request_info")[1]
    assert set(schema["required"]) == {"missing", "message"}
    assert schema["properties"]["missing"]["minItems"] == 1


def test_schema_of_an_unknown_action(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "schema", "approve")
    assert (status, out) == (EXIT_REFUSED, None)
    assert "'approve'" in err and "manager_approval" in err and "acknowledge" in err


# ---- bad input: refused with the field named, before anything connects ----


def _intake_json(**overrides: Any) -> str:
    return json.dumps(make_intake(**overrides))


@pytest.mark.parametrize(
    ("stdin", "named"),
    [
        ('{"customer": ', "invalid JSON"),
        ("", "invalid JSON"),
        ("[1, 2]", "intake"),
        (_intake_json(received_at="2026-02-13T17:00:00"), "received_at"),
        (_intake_json(received_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()), "received_at"),
        (_intake_json(channel="carrier_pigeon"), "channel"),
        (_intake_json(customer={"name": "An"}), "customer"),
        (_intake_json(complaint_id="an@example.vn"), "complaint_id"),
        (_intake_json(colour="blue"), "colour"),
        (_intake_json(department="marketing"), "department: no department has the code 'marketing'"),
    ],
)
def test_start_refuses_bad_intake_without_connecting(
    capsys: pytest.CaptureFixture[str], stdin: str, named: str
) -> None:
    status, out, err = cli(capsys, "start", "-", stdin=stdin)
    assert (status, out) == (EXIT_REFUSED, None), err
    assert named in err
    assert "Temporal" not in err
    assert len(err.strip().splitlines()) == 1


def test_start_names_the_company_profile_when_it_is_bad(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    profile = tmp_path / "company.toml"
    profile.write_text('legal_name = "Công ty A"\naddress = "Hà Nội"\ndepartments = []\n', encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_COMPANY_PROFILE", str(profile))
    status, out, err = cli(capsys, "start", "-", stdin=_intake_json())
    assert (status, out) == (EXIT_REFUSED, None)
    assert f"the company profile: {profile}: departments:" in err and "Temporal" not in err


def test_start_says_when_received_at_is_in_the_future(capsys: pytest.CaptureFixture[str]) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    err = cli(capsys, "start", "-", stdin=_intake_json(received_at=tomorrow))[2]
    assert "received_at: must not be in the future" in err


def test_start_from_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = cli(capsys, "start", str(tmp_path / "nope.json"))
    assert status == EXIT_REFUSED
    assert "nope.json" in err


def test_a_good_intake_does_try_to_connect(capsys: pytest.CaptureFixture[str], no_servers: str) -> None:
    """The control for the tests above: with valid input the same setup fails on the dead address, exit 3."""
    status, out, err = cli(capsys, "start", "-", stdin=_intake_json())
    assert (status, out) == (EXIT_UNAVAILABLE, None)
    assert "cannot reach Temporal" in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["acknowledge", "--data", "{oops"], "--data"),
        (["acknowledge", "--data", "[1]"], "--data"),
        (["approve"], "manager_approval"),
        (["acknowledge", "--request-id", "has spaces"], "request_id"),
        (["acknowledge", "--actor", "\x07bell"], "actor"),
    ],
)
def test_act_refuses_bad_input_without_connecting(
    capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    base = ["act", "c-1", args[0], "--actor", "lan", "--role", "agent"]
    status, out, err = cli(capsys, *base, *args[1:])
    assert (status, out) == (EXIT_REFUSED, None), err
    assert named in err
    assert "Temporal" not in err


def test_list_needs_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "list")
    assert (status, out) == (EXIT_UNAVAILABLE, None)
    assert "DATABASE_URL" in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["act", "c-1"],
        ["act", "c-1", "acknowledge", "--actor", "lan"],
        ["act", "c-1", "acknowledge", "--actor", "lan", "--role", "boss"],
        ["list", "--stage", "limbo"],
        ["list", "--limit", "0"],
        ["deadline"],
        ["dev", "--temporal-port", "70000"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    status, out, err = cli(capsys, *args)
    assert (status, out) == (EXIT_USAGE, None)
    assert "usage:" in err


# ---- the console script itself: exit statuses and stdout as another program sees them ----


def test_no_key_no_connection(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an encryption key nothing talks to Temporal: personal data would reach it in clear text."""
    monkeypatch.delenv("COMPLAINTS_ENCRYPTION_KEYS")
    commands = (["show", "c-1"], ["act", "c-1", "add_note", "--actor", "a", "--role", "agent"], ["worker"])
    for args in (*commands, ["mail-ingress"]):
        if args in (["worker"], ["mail-ingress"]):
            monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
            monkeypatch.setenv("COMPLAINTS_METRICS_ADDRESS", "")
        status, out, err = cli(capsys, *args)
        assert (status, out) == (EXIT_REFUSED, None), err
        assert "encryption keys: no encryption key configured: set COMPLAINTS_ENCRYPTION_KEYS" in err
    monkeypatch.setenv("COMPLAINTS_ENCRYPTION_KEYS", "k1:tooshort")
    status, _, err = cli(capsys, "show", "c-1")
    assert status == EXIT_REFUSED and "COMPLAINTS_ENCRYPTION_KEYS: key k1" in err


def test_console_script_exit_statuses(no_servers: str) -> None:
    env = clean_env(TEMPORAL_ADDRESS=no_servers, COMPLAINTS_ENCRYPTION_KEYS=KEYS)
    ok = complaints("deadline", "--received-at", "2026-02-13T17:00:00+07:00", env=env)
    assert (ok.status, ok.json()["resolution_due"], ok.stderr) == (0, "2026-03-20T17:00:00Z", "")

    bad = complaints("start", "-", stdin=_intake_json(channel="fax"), env=env)
    assert (bad.status, bad.stdout) == (1, "")
    assert bad.stderr.startswith("complaints start: channel:")

    usage = complaints("act", env=env)
    assert (usage.status, usage.stdout) == (2, "")

    down = complaints("show", "c-1", env=env)
    assert (down.status, down.stdout) == (3, "")

    keyless = complaints("show", "c-1", env=clean_env(TEMPORAL_ADDRESS=no_servers))
    assert (keyless.status, keyless.stdout) == (1, "")
    assert "no encryption key configured" in keyless.stderr
