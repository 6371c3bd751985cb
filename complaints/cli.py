"""The `complaints` command: JSON in, JSON out, for services and for people at a terminal.

Exit status: 0 done; 1 refused (a rejected action, bad input, an unknown complaint), with one line on stderr
naming the field or the problem; 2 usage (argparse: the usage line and one error line); 3 unavailable (Temporal or
PostgreSQL unreachable, or no worker answered in time), worth retrying. Only JSON goes to stdout; logs and messages
go to stderr. Whatever a caller sends, the answer is one of these, never a traceback: services parse stderr, and a
person at a terminal should read what to fix. A reader that stops reading (`complaints schema | head`) is no error.

Where the servers are: `TEMPORAL_ADDRESS` (with the rest of `temporalio.envconfig`) and `DATABASE_URL` when set;
otherwise the addresses a running `complaints dev` wrote to `<data dir>/stack.json` (`--data-dir`, or
`COMPLAINTS_DATA_DIR`, default `<project>/data`); otherwise Temporal's default `localhost:7233`.

The payload encryption keys: `COMPLAINTS_ENCRYPTION_KEYS` or `COMPLAINTS_KEY_FILE`; otherwise the key file of a
running `complaints dev`; otherwise the command refuses to talk to Temporal (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from complaints.command import (
    DEFAULT_TIMEOUT,
    EXIT_REFUSED,
    EXIT_USAGE,
    MAX_TIMEOUT,
    Failure,
    one_line,
    quoted,
    say,
)
from complaints.complaint_commands import (
    MAX_LIST_LIMIT,
    MAX_LIST_OFFSET,
    cmd_act,
    cmd_deadline,
    cmd_list,
    cmd_refusals,
    cmd_schema,
    cmd_show,
    cmd_start,
)
from complaints.process_commands import cmd_dev, cmd_mail_ingress, cmd_web, cmd_worker
from complaints.user_commands import cmd_user_add, cmd_user_change
from domain.actions import Action, Role
from domain.company import CompanyProfileError
from domain.intake import IntakeError
from domain.models import Stage
from starter.logs import configure_logging

# ---- the parser ----


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """The usage on one line and the error on the next, whatever the terminal's width or the argument."""
        usage = " ".join(self.format_usage().split())
        self.exit(EXIT_USAGE, f"{usage}\n{self.prog}: error: {one_line(message)}\n")


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, else a usage error that gives the range."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not digits, or more than 4,300 of them
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, not {quoted(text)}")
        return value

    return whole_number


def _seconds(text: str) -> float:
    """A wait in seconds: more than 0 (0 or less would give up before asking) and at most `MAX_TIMEOUT`."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_TIMEOUT:  # nan and inf fail here too
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds greater than 0 and at most {MAX_TIMEOUT:.0f}, not {quoted(text)}"
        )
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 picks a free one), not {quoted(text)}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="complaints", description="Complaint lifecycle engine: JSON in, JSON out.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    where = _Parser(add_help=False)
    where.add_argument(
        "--data-dir",
        help="data directory of a running `complaints dev` (default: COMPLAINTS_DATA_DIR or <project>/data)",
    )
    waits = _Parser(add_help=False)
    waits.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help="seconds to wait for a worker (default %(default)s)"
    )

    dev = commands.add_parser("dev", help="run Temporal, PostgreSQL and the worker locally until Ctrl-C")
    dev.add_argument("--data-dir", help="where everything is kept (default: COMPLAINTS_DATA_DIR or <project>/data)")
    dev.add_argument("--temporal-port", type=_port, default=7233, help="gRPC port (default 7233; 0: a free one)")
    dev.add_argument("--ui-port", type=_port, default=8233, help="Web UI port (default 8233; 0: a free one)")
    dev.add_argument("--web-port", type=_port, default=8000, help="web form port (default 8000; 0: a free one)")
    dev.add_argument(
        "--mail-port",
        type=_port,
        default=0,
        help="the mail catcher's SMTP port, when COMPLAINTS_SMTP_HOST is unset (default 0: a free one, printed)",
    )
    dev.add_argument(
        "--mail-ingress-port",
        type=_port,
        default=2525,
        help="the mail ingress's SMTP port, where customers' mail comes in (default 2525; 0: a free one, printed)",
    )
    dev.add_argument("--no-web", action="store_true", help="leave the web form out")
    dev.set_defaults(run=cmd_dev)

    worker = commands.add_parser("worker", parents=[where], help="run a worker (DATABASE_URL, TEMPORAL_ADDRESS)")
    worker.set_defaults(run=cmd_worker)

    ingress = commands.add_parser(
        "mail-ingress",
        parents=[where],
        help="take customers' mail by SMTP on COMPLAINTS_MAIL_INGRESS_ADDRESS (DATABASE_URL, TEMPORAL_ADDRESS)",
    )
    ingress.set_defaults(run=cmd_mail_ingress)

    start = commands.add_parser("start", parents=[where, waits], help="start a complaint from intake JSON")
    start.add_argument("file", metavar="FILE", help="intake JSON file, or - for stdin")
    start.set_defaults(run=cmd_start)

    act = commands.add_parser("act", parents=[where, waits], help="apply an action to a complaint")
    act.add_argument("complaint_id", metavar="ID")
    act.add_argument("action", metavar="ACTION", help="one of: " + ", ".join(a.value for a in Action))
    act.add_argument("--actor", required=True, help="who acts (a name or staff id)")
    act.add_argument("--role", required=True, choices=[r.value for r in Role])
    act.add_argument("--data", help="the action's data as a JSON object (see `complaints schema ACTION`)")
    act.add_argument("--request-id", help="idempotency key: the same id applied twice changes nothing")
    act.set_defaults(run=cmd_act)

    show = commands.add_parser("show", parents=[where, waits], help="a complaint's state, actions and timeline")
    show.add_argument("complaint_id", metavar="ID")
    show.add_argument("--role", choices=[r.value for r in Role], help="only the actions this role may take")
    show.set_defaults(run=cmd_show)

    listing = commands.add_parser("list", parents=[where], help="complaints from PostgreSQL, most urgent first")
    listing.add_argument("--stage", choices=[s.value for s in Stage])
    listing.add_argument("--overdue", action="store_true", help="open and past (or marked past) a due instant")
    listing.add_argument("--department")
    listing.add_argument(
        "--limit",
        type=_whole_number(1, MAX_LIST_LIMIT),
        default=100,
        help=f"1 to {MAX_LIST_LIMIT} (default %(default)s)",
    )
    listing.add_argument("--offset", type=_whole_number(0, MAX_LIST_OFFSET), default=0, help="rows to skip")
    listing.set_defaults(run=cmd_list)

    refusals = commands.add_parser(
        "refusals", parents=[where], help="record writes PostgreSQL refused for good (for admins), newest first"
    )
    refusals.add_argument(
        "--limit",
        type=_whole_number(1, MAX_LIST_LIMIT),
        default=100,
        help=f"1 to {MAX_LIST_LIMIT} (default %(default)s)",
    )
    refusals.set_defaults(run=cmd_refusals)

    schema = commands.add_parser("schema", help="JSON Schema of the intake, or of an action's data")
    schema.add_argument("action", nargs="?", metavar="ACTION")
    schema.set_defaults(run=cmd_schema)

    web = commands.add_parser("web", parents=[where], help="serve the agents' web form (DATABASE_URL, Temporal)")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=_port, default=8000)
    web.set_defaults(run=cmd_web)

    user = commands.add_parser("user", help="web form users")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    user_add = user_commands.add_parser("add", parents=[where], help="add a user (password from a prompt or stdin)")
    user_add.add_argument("username")
    user_add.add_argument("--role", required=True, choices=["agent", "manager", "admin"])
    user_add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user_add.set_defaults(run=cmd_user_add)
    user_list = user_commands.add_parser("list", parents=[where], help="every user, with role and whether disabled")
    user_list.set_defaults(run=cmd_user_change)
    for name, help_text in (
        ("disable", "disable a user and end their sessions (the last admin stays)"),
        ("enable", "let a disabled user sign in again"),
    ):
        toggle = user_commands.add_parser(name, parents=[where], help=help_text)
        toggle.add_argument("username")
        toggle.set_defaults(run=cmd_user_change)
    user_role = user_commands.add_parser("role", parents=[where], help="change a user's role (the last admin stays)")
    user_role.add_argument("username")
    user_role.add_argument("role", choices=["agent", "manager", "admin"])
    user_role.set_defaults(run=cmd_user_change)
    user_password = user_commands.add_parser(
        "password", parents=[where], help="reset a password (prompt or stdin) and end the user's sessions"
    )
    user_password.add_argument("username")
    user_password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user_password.set_defaults(run=cmd_user_change)

    deadline = commands.add_parser("deadline", help="the clocks for a receipt instant (no server needed)")
    deadline.add_argument("--received-at", required=True, metavar="ISO8601")
    deadline.set_defaults(run=cmd_deadline)
    return parser


def _unreadable_argument(argv: Sequence[str]) -> str | None:
    """What is wrong with an argument no command can take: a NUL (no operating system passes one, no path or
    text holds one) or bytes that are not UTF-8 (Python hands them over as lone surrogates)."""
    for position, argument in enumerate(argv, start=1):
        if "\x00" in argument:
            return f"argument {position} contains a NUL character"
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return f"argument {position} is not UTF-8 text"
    return None


def run(argv: Sequence[str] | None = None) -> int:
    """The command's exit status. Tests call this in-process: it leaves the process's logging alone."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    unreadable = _unreadable_argument(arguments)
    if unreadable is not None:
        say("", unreadable)
        return EXIT_USAGE
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command: Callable[[argparse.Namespace], Any] = args.run
    try:
        result = command(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except Failure as exc:
        say(args.command, str(exc))
        return exc.status
    except IntakeError as exc:
        say(args.command, f"{exc.field}: {exc.problem}")
        return EXIT_REFUSED
    except CompanyProfileError as exc:  # the worker's or the web's, read as they start
        say(args.command, f"configuration: the company profile: {exc}")
        return EXIT_REFUSED
    except OverflowError as exc:  # a date or number beyond what the arithmetic holds can only come from input
        say(args.command, f"a value out of range: {exc}")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Once the output is flushed it leaves with `os._exit`: the Temporal client's Rust
    threads can abort or hang CPython's own shutdown of a short-lived process (temporalio/sdk-python#300), and
    every server this process started has been stopped explicitly by then."""
    configure_logging(sys.stderr)
    try:
        status = run(argv)
    except Exception as exc:  # a bug: one line that says where, and still leave without the shutdown hazard below
        where = traceback.extract_tb(exc.__traceback__)[-1]
        with contextlib.suppress(Exception):
            say("", f"internal error ({type(exc).__name__} at {Path(where.filename).name}:{where.lineno}): {exc}")
        status = EXIT_REFUSED
    if argv is not None:
        return status
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
