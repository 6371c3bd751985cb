"""The `complaints` command under hostile input: whatever arrives in argv, on stdin or in `--data`, it answers
with an exit status (0 done, 1 refused, 2 usage, 3 unreachable) and at most one line on stderr, never a traceback.

In-process (`run`) with hypothesis for the breadth; then the real console script for the issue's exact inputs.
Nothing listens at the addresses the command is given, so whatever gets past the checks fails fast with exit 3.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import COMPLAINTS, clean_env, make_intake

from complaints.cli import run
from complaints.command import EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from complaints.temporal_server import free_port
from starter.codec import EncryptionKey, KeyRing

KEYS = KeyRing([EncryptionKey.generate("cli-fuzz")]).to_spec()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SAFE_COMMANDS = ("start", "act", "show", "list", "deadline", "schema")
"""`dev`, `worker`, `web`, `mail-ingress` and `user` start servers or ask for a password: they are not fuzzed."""
KEPT_OUT = frozenset({"dev", "worker", "web", "mail-ingress", "user"})

TOKENS = (
    *SAFE_COMMANDS,
    "-",
    "--",
    "-h",
    "--data-dir",
    "--timeout",
    "--actor",
    "--role",
    "--data",
    "--request-id",
    "--stage",
    "--overdue",
    "--department",
    "--limit",
    "--offset",
    "--received-at",
    "agent",
    "manager",
    "acknowledge",
    "add_note",
    "c-1",
    "",
    "0",
    "-1",
    "-5",
    "nan",
    "inf",
    "1e400",
    "99999999999999999999",
    "{}",
    '{"text": "a \\u0000 b"}',
    "[" * 2000,
    "2026-02-13T17:00:00+07:00",
    "0001-01-01T00:00:00+07:00",
    "\x00",
    "\udcff",
    "a\nb",
    "\u202e",
    "x" * 100_000,
)
"""What a hostile caller reaches for: the options themselves, edge numbers, NUL, a surrogate from undecodable
bytes, a line break, a right-to-left override, and huge or deep values."""


@pytest.fixture(scope="module", autouse=True)
def nothing_listens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Closed ports for Temporal and PostgreSQL, a key (so a command gets as far as connecting) and an empty
    data directory (no running `complaints dev` to find)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("COMPLAINTS_CALENDAR_FILE", "COMPLAINTS_KEY_FILE", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"):
            patch.delenv(name, raising=False)
        patch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
        patch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/none")
        patch.setenv("COMPLAINTS_ENCRYPTION_KEYS", KEYS)
        patch.setenv("COMPLAINTS_DATA_DIR", str(tmp_path_factory.mktemp("fuzz-data")))
        yield


def complaints_in_process(argv: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """`run(argv)` with `stdin` as the process's standard input; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = run(argv)
    return status, out.getvalue(), err.getvalue()


def assert_tidy(status: int, out: str, err: str) -> None:
    """The command's contract with whoever called it, whatever the input."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    if status == EXIT_OK:
        assert err == "", err
        return
    assert out == "", out  # only results go to stdout
    if status == EXIT_USAGE:
        assert 1 <= len(lines) <= 2, err
        if len(lines) == 2:
            assert lines[0].startswith("usage: complaints"), err
    else:
        assert status in (EXIT_REFUSED, EXIT_UNAVAILABLE), (status, err)
        assert len(lines) == 1, err
        if status == EXIT_UNAVAILABLE:  # input good enough to try the servers: it must say so, not guess
            assert "cannot reach" in err, err
    assert lines[-1].startswith("complaints"), err


# ---- argv ----


def _not_kept_out(argv: list[str]) -> bool:
    return not argv or argv[0] not in KEPT_OUT


argvs = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=30)), max_size=8).filter(_not_kept_out)


@FUZZ
@given(command=st.sampled_from(SAFE_COMMANDS), rest=argvs)
def test_any_arguments_to_a_command(command: str, rest: list[str]) -> None:
    assert_tidy(*complaints_in_process([command, *rest]))


@FUZZ
@given(argv=argvs)
def test_any_arguments_at_all(argv: list[str]) -> None:
    assert_tidy(*complaints_in_process(argv))


# ---- stdin: the intake as a service pipes it in ----


def _nested(depth: int, opening: str, leaf: str, closing: str) -> str:
    return opening * depth + leaf + closing * depth


def _intake_with_a_deep_description(depth: int) -> bytes:
    intake = json.dumps(make_intake(description="DEEP"))
    return intake.replace('"DEEP"', _nested(depth, "[", "", "]")).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
intakes_gone_wrong = st.builds(
    lambda field, value: json.dumps({**make_intake(), field: value}),
    st.sampled_from(["customer", "channel", "subject", "description", "received_at", "complaint_id", "colour"]),
    json_values,
)
deep = st.integers(min_value=0, max_value=5000).flatmap(
    lambda depth: st.sampled_from(
        [_nested(depth, "[", "", ""), _nested(depth, "[", "1", "]"), _nested(depth, '{"a":', "1", "}")]
    )
)
stdins = st.one_of(
    st.binary(max_size=2000),
    st.text().map(lambda text: text.encode("utf-8", "surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode()),
    intakes_gone_wrong.map(str.encode),
    deep.map(str.encode),
)


@FUZZ
@given(stdin=stdins)
def test_any_intake_on_stdin(stdin: bytes) -> None:
    assert_tidy(*complaints_in_process(["start", "-"], stdin))


@FUZZ
@given(content=stdins)
def test_any_intake_file(content: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    intake = tmp_path_factory.mktemp("intake") / "intake.json"
    intake.write_bytes(content)
    assert_tidy(*complaints_in_process(["start", str(intake)]))


# ---- --data ----

datas = st.one_of(
    st.text(),
    json_values.map(json.dumps),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4).map(json.dumps),
    deep,
)


@FUZZ
@given(action=st.sampled_from(["add_note", "acknowledge", "close", "frobnicate"]), data=datas)
def test_any_data_to_act(action: str, data: str) -> None:
    assert_tidy(*complaints_in_process(["act", "c-1", action, "--actor", "lan", "--role", "agent", "--data", data]))


# ---- numbers and dates ----

numbers = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["99999999999999999999", "-5", "0", "-1", "nan", "inf", "-inf", "1e400", "1_000", " 7 "]),
)


@FUZZ
@given(option=st.sampled_from(["--limit", "--offset"]), value=numbers)
def test_any_number_to_list(option: str, value: str) -> None:
    assert_tidy(*complaints_in_process(["list", option, value]))


@FUZZ
@given(
    argv=st.sampled_from([["show", "c-1"], ["act", "c-1", "acknowledge", "--actor", "lan", "--role", "agent"]]),
    value=numbers,
)
def test_any_timeout(argv: list[str], value: str) -> None:
    status, out, err = complaints_in_process([*argv, "--timeout", value])
    assert_tidy(status, out, err)
    assert "no worker answered" not in err  # a timeout of 0 or less never even asks


offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
)


dates = st.one_of(
    st.text(max_size=40),
    st.datetimes(timezones=offsets),
    st.datetimes(max_value=datetime(1, 1, 2), timezones=offsets),  # the calendar's edges, where arithmetic ends
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=offsets),
)


@FUZZ
@given(received_at=dates.map(lambda value: value if isinstance(value, str) else value.isoformat()))
def test_any_date_to_deadline(received_at: str) -> None:
    status, out, err = complaints_in_process(["deadline", "--received-at", received_at])
    assert_tidy(status, out, err)
    if status == EXIT_OK:
        assert json.loads(out)["resolution_due_date"]


# ---- examples from the issue, in-process: exactly what each one now says ----


@pytest.mark.parametrize(
    ("argv", "stdin", "status", "says"),
    [
        (["start", "-"], b"\xff\xfe{", EXIT_REFUSED, "intake (stdin): not UTF-8 text"),
        (["start", "-"], b"[" * 100_000, EXIT_REFUSED, "intake (stdin): invalid JSON: nested too deeply"),
        (["start", "-"], _intake_with_a_deep_description(500), EXIT_REFUSED, "start: description: Input should be"),
        (["start", "-"], b"\xef\xbb\xbf" + json.dumps(make_intake(channel="fax")).encode(), EXIT_REFUSED, "channel"),
        (["start", ""], b"", EXIT_REFUSED, "intake: no file named"),
        (
            ["act", "c-1", "add_note", "--actor", "lan", "--role", "agent", "--data", _nested(500, '{"a":', "1", "}")],
            b"",
            EXIT_REFUSED,
            "--data: nested more than 6 levels deep",
        ),
        (
            ["act", "c-1", "add_note", "--actor", "lan", "--role", "agent", "--data", '{"text": "a \\u0000 b"}'],
            b"",
            EXIT_REFUSED,
            "data.text: must not contain control characters",
        ),
        (["act", "", "add_note", "--actor", "lan", "--role", "agent"], b"", EXIT_REFUSED, "complaint id ''"),
        (
            ["act", "c-1", "add_note", "--actor", "lan", "--role", "agent", "--request-id", ""],
            b"",
            EXIT_REFUSED,
            "request_id",
        ),
        (["show", "x" * 100_000], b"", EXIT_REFUSED, "complaint id 'xxx"),
        (["list", "--limit", "99999999999999999999"], b"", EXIT_USAGE, "--limit: must be a whole number from 1 to"),
        (["list", "--offset", "-5"], b"", EXIT_USAGE, "--offset: must be a whole number from 0 to"),
        (["list", "--department", ""], b"", EXIT_REFUSED, "--department ''"),
        (["show", "c-1", "--timeout", "-1"], b"", EXIT_USAGE, "--timeout: must be a number of seconds greater than 0"),
        (
            ["act", "c-1", "acknowledge", "--actor", "lan", "--role", "agent", "--timeout", "0"],
            b"",
            EXIT_USAGE,
            "--timeout: must be a number of seconds greater than 0",
        ),
        (["show", "c-1", "--timeout", "nan"], b"", EXIT_USAGE, "--timeout"),
        (["show", "c\x00-1"], b"", EXIT_USAGE, "argument 2 contains a NUL character"),
        (["show", "c-\udcff"], b"", EXIT_USAGE, "argument 2 is not UTF-8 text"),
        (["list", "a\nb"], b"", EXIT_USAGE, "unrecognized arguments: a\\nb"),
        (["schema", "x" * 100_000], b"", EXIT_REFUSED, "unknown action 'xxx"),
        (["deadline", "--received-at", "0001-01-01T00:00:00+07:00"], b"", EXIT_REFUSED, "must be between 2000-01-01"),
    ],
)
def test_the_issues_inputs(argv: list[str], stdin: bytes, status: int, says: str) -> None:
    answer = complaints_in_process(argv, stdin)
    assert_tidy(*answer)
    assert answer[0] == status, answer
    assert says in answer[2], answer
    assert len(answer[2]) < 2000  # a huge argument is quoted back shortened


@pytest.mark.parametrize(
    ("variable", "value", "argv"),
    [
        ("DATABASE_URL", "x", ["list"]),
        ("DATABASE_URL", "postgresql://lan:s3cret@[::1/none", ["list"]),
        ("DATABASE_URL", "postgresql://lan:s3cret@127.0.0.1:99999/none", ["list"]),
        ("DATABASE_URL", "postgresql://lan:s3cret@127.0.0.1:1/none?sslmode=bogus", ["list"]),
        ("TEMPORAL_ADDRESS", "127.0.0.1:notaport", ["show", "c-1"]),
        ("TEMPORAL_ADDRESS", ":7233", ["show", "c-1"]),
    ],
)
def test_a_server_address_that_is_no_address(variable: str, value: str, argv: list[str]) -> None:
    """A configuration mistake, said in one line (exit 1: retrying will not help), the password never echoed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variable, value)
        status, out, err = complaints_in_process(argv)
    assert_tidy(status, out, err)
    assert status == EXIT_REFUSED and "configuration: the" in err, err
    assert "s3cret" not in err


def test_json_that_only_python_reads_is_refused() -> None:
    argv = ["act", "c-1", "add_note", "--actor", "lan", "--role", "agent", "--data", '{"text": "a", "n": NaN}']
    status, out, err = complaints_in_process(argv)
    assert (status, out) == (EXIT_REFUSED, "")
    assert err == "complaints act: --data: invalid JSON: NaN is not a JSON number\n"


def test_a_good_intake_gets_as_far_as_connecting() -> None:
    """The control for the refusals above: valid input, the same setup, and the command tries Temporal."""
    status, out, err = complaints_in_process(["start", "-"], json.dumps(make_intake()).encode())
    assert (status, out) == (EXIT_UNAVAILABLE, "")
    assert "cannot reach Temporal" in err


# ---- the console script, as another program runs it ----


def console(args: list[str], env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(COMPLAINTS), *args], input=stdin, env=env, capture_output=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        COMPLAINTS_ENCRYPTION_KEYS=KEYS,
        COMPLAINTS_DATA_DIR=str(tmp_path / "data"),
        LC_ALL="C.UTF-8",  # a strict UTF-8 locale: stdin that is not UTF-8 used to raise while decoding
    )


def test_console_script_answers_the_issues_inputs_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    not_utf8 = tmp_path / "intake.json"
    not_utf8.write_bytes(b'{"subject": "\xff\xfe"}')
    deep_data = _nested(500, '{"a":', "1", "}")
    cases: list[tuple[list[str], bytes, int, str]] = [
        (["start", str(not_utf8)], b"", EXIT_REFUSED, "not UTF-8 text"),
        (["start", "-"], b"\xc3\x28{}", EXIT_REFUSED, "not UTF-8 text"),
        (["start", "-"], b"[" * 100_000, EXIT_REFUSED, "nested too deeply"),
        (
            ["act", "c-1", "add_note", "--actor", "lan", "--role", "agent", "--data", deep_data],
            b"",
            EXIT_REFUSED,
            "--data: nested more than 6 levels deep",
        ),
        (["list", "--limit", "99999999999999999999"], b"", EXIT_USAGE, "--limit"),
        (["list", "--offset", "-5"], b"", EXIT_USAGE, "--offset"),
        (["show", "c-1", "--timeout", "-1"], b"", EXIT_USAGE, "--timeout"),
    ]
    for args, stdin, status, says in cases:
        done = console(args, env, stdin)
        err = done.stderr.decode()
        assert (done.returncode, done.stdout) == (status, b""), (args[:2], err)
        assert "Traceback" not in err and says in err, (args[:2], err)
        assert len(err.splitlines()) == (2 if status == EXIT_USAGE else 1), (args[:2], err)  # usage + error


@pytest.mark.parametrize("args", [["schema"], ["deadline", "--received-at", "2026-02-13T17:00:00+07:00"]])
def test_a_reader_that_stops_reading_is_no_error(env: dict[str, str], args: list[str]) -> None:
    """`complaints schema | head`: the reader is gone before the command writes; it ends quietly, status 0."""
    with subprocess.Popen([str(COMPLAINTS), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the command has started: its first write meets a closed pipe
        err = proc.stderr.read().decode()
        status = proc.wait(timeout=60)
    assert (status, err) == (EXIT_OK, "")
