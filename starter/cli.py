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
import json
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from pydantic import TypeAdapter, ValidationError

from domain.actions import ACTION_DATA, Action, ActionRequest, Door, Role
from domain.calendar import CalendarFileError
from domain.company import CompanyProfile, CompanyProfileError
from domain.deadlines import compute_deadlines
from domain.fields import ComplaintId, DepartmentCode
from domain.intake import Intake, IntakeError
from domain.models import ComplaintState, Stage
from domain.text import TextRefused, check_data_shape
from starter.logs import configure_logging
from starter.settings import Settings, SettingsError

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.runtime import Runtime

    from activities.queries import ComplaintQueries
    from starter.client import ComplaintClient

T = TypeVar("T")

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
DEFAULT_TIMEOUT = 30.0
"""Seconds `start` and `act` wait for a worker to answer before giving up (exit 3)."""
MAX_TIMEOUT = 86_400.0
"""A day: longer than any worker needs to answer; beyond it a `--timeout` is a typing mistake."""
POSTGRES_CONNECT_TIMEOUT = 10.0
"""Seconds `list` waits for a PostgreSQL connection before saying it is unreachable (exit 3)."""
MAX_LIST_LIMIT = 1000
"""Rows `list` prints at most: a bounded page; `--offset` reaches the rest."""
MAX_LIST_OFFSET = 1_000_000_000
"""Far beyond any complaint count, and well inside PostgreSQL's bigint."""
MAX_INTAKE_BYTES = 1 << 20
"""An intake is a few kilobytes (a description holds at most 10,000 characters); a mebibyte is a wrong file."""
MAX_MESSAGE_CHARS = 1000
"""How much of a message stderr gets: a refusal that echoes a 100,000-character argument stays readable."""
MAX_QUOTED_CHARS = 60
"""How much of a caller's value a message quotes back."""

COMPLAINT_ID = TypeAdapter(ComplaintId)
DEPARTMENT = TypeAdapter(DepartmentCode)


class Failure(Exception):
    """Ends the command with `status` and one line on stderr."""

    def __init__(self, message: str, status: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.status = status


def _emit(value: Any) -> None:
    with contextlib.suppress(BrokenPipeError):  # the reader stopped reading (`| head`): it has what it wanted
        print(json.dumps(value, ensure_ascii=False, indent=2), flush=True)


def _one_line(message: str) -> str:
    """`message` as one printable line: line breaks, control, format and bidi characters, and the halves of
    undecodable bytes are shown escaped, so nothing a caller typed can add lines or rewrite the terminal."""
    shown = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in message)
    return shown if len(shown) <= MAX_MESSAGE_CHARS else shown[: MAX_MESSAGE_CHARS - 1] + "…"


def _quoted(value: str) -> str:
    """A caller's value quoted in a message, shortened: enough to recognise it, never the whole of a huge one."""
    return repr(value if len(value) <= MAX_QUOTED_CHARS else value[: MAX_QUOTED_CHARS - 1] + "…")


def _say(command: str, message: str) -> None:
    """The one line on stderr that ends a command: `complaints <command>: <field or problem>`."""
    prefix = f"complaints {command}" if command else "complaints"
    print(f"{prefix}: {_one_line(message)}", file=sys.stderr, flush=True)


def _settings() -> Settings:
    try:
        return Settings()
    except SettingsError as exc:
        raise Failure(f"configuration: {exc}") from None


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) if args.data_dir else _settings().data_dir


# ---- reading input ----

MAX_PASSWORD_LINE_BYTES = 4096
"""Far above the longest password a user may have (256 characters); `/dev/zero` on stdin still ends."""


def _read_json(source: str, what: str) -> Any:
    """JSON from a file, or from stdin for `-`; `Failure` naming the source when it is not UTF-8 JSON.

    Read as bytes and at most `MAX_INTAKE_BYTES`: the text's encoding is checked here, whatever the locale
    (a strict one raises on a bad byte, the C locale smuggles it in as a surrogate), and `/dev/zero` ends."""
    if not source:
        raise Failure(f"{what}: no file named (a path, or - for stdin)")
    where = "stdin" if source == "-" else source
    try:
        if source == "-":
            raw = _read_stdin(MAX_INTAKE_BYTES + 1)
        else:
            with Path(source).open("rb") as file:
                raw = file.read(MAX_INTAKE_BYTES + 1)
    except OSError as exc:
        raise Failure(f"{what}: cannot read {where}: {exc.strerror or exc}") from None
    if len(raw) > MAX_INTAKE_BYTES:
        raise Failure(f"{what} ({where}): larger than {MAX_INTAKE_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark from a Windows editor is no mistake
    except UnicodeDecodeError as exc:
        raise Failure(f"{what} ({where}): not UTF-8 text (invalid byte at offset {exc.start})") from None
    return _parse_json(text, f"{what} ({where})")


def _read_stdin(limit: int) -> bytes:
    """Up to `limit` bytes of standard input; a text-only stdin (a test's StringIO) is encoded back, its
    surrogates kept so the UTF-8 check sees them."""
    if sys.stdin is None:
        raise Failure("no standard input to read")
    binary = getattr(sys.stdin, "buffer", None)
    if binary is not None:
        return bytes(binary.read(limit))
    return str(sys.stdin.read(limit)).encode("utf-8", "surrogatepass")


def _password(args: argparse.Namespace, prompt: str) -> str:
    """The password from the first line of stdin (`--password-stdin`) or a prompt; `Failure` if it is not text."""
    import getpass

    if not args.password_stdin:
        return getpass.getpass(prompt)
    line = _read_stdin(MAX_PASSWORD_LINE_BYTES + 1).split(b"\n", 1)[0]
    if len(line) > MAX_PASSWORD_LINE_BYTES:
        raise Failure(f"password: longer than {MAX_PASSWORD_LINE_BYTES} bytes")
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise Failure(f"password (stdin): not UTF-8 text (invalid byte at offset {exc.start})") from None


def _not_json(constant: str) -> Any:
    """`NaN` and `Infinity`: Python's json reads them, no other JSON reader does, and no field wants them."""
    raise ValueError(f"{constant} is not a JSON number")


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise Failure(f"{what}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # `[` x 100,000: the parser recurses once per level
        raise Failure(f"{what}: invalid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, or a number of more than 4,300 digits
        raise Failure(f"{what}: invalid JSON: {exc}") from None


def _action_data(text: str) -> dict[str, Any]:
    """`--data`: a JSON object of a shape and text the text policy accepts, checked before connecting."""
    data = _parse_json(text, "--data")
    if not isinstance(data, dict):
        raise Failure("--data: must be a JSON object")
    try:
        check_data_shape(data)
    except TextRefused as exc:
        named = exc.loc and exc.code != "data_too_deep"  # a text is named by its field; depth by the option
        where = ".".join(str(part) for part in ("data", *(exc.loc or ()))) if named else "--data"
        raise Failure(f"{where}: {exc.problem}") from None
    return data


def _complaint_id(text: str) -> str:
    """A complaint id as the domain defines it, checked before connecting: an empty or 100,000-character id
    is a caller's mistake to name, not a question for Temporal."""
    try:
        return COMPLAINT_ID.validate_python(text)
    except ValidationError:
        raise Failure(
            f"complaint id {_quoted(text)}: letters, digits, '.', '_' and '-', at most 100, the first a letter or digit"
        ) from None


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        valid = ", ".join(a.value for a in Action)
        raise Failure(f"unknown action {_quoted(name)}; valid actions: {valid}") from None


def _received_at(text: str) -> datetime:
    """A receipt instant from the command line, or one line saying what is wrong with its form."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Failure(f"received_at: not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise Failure("received_at: must include a time zone offset (e.g. +07:00 or Z)")
    return value


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(part) for part in err['loc']) or 'input'}: {err['msg']}"


# ---- the servers ----


async def _temporal(args: argparse.Namespace, runtime: Runtime | None = None) -> Client:
    """Connect: `TEMPORAL_ADDRESS` (envconfig) wins; then a running `complaints dev`; then the default.
    The keys: the configured ones; then the running `complaints dev`'s key file; else refuse."""
    from starter.codec import EncryptionKeyError
    from starter.connection import connect_temporal, key_ring_from_settings
    from starter.stack import read_stack_file

    settings = _settings()
    running = read_stack_file(_data_dir(args))
    address = running.temporal_address if running and settings.temporal_address is None else None
    try:
        key_ring = key_ring_from_settings(settings, Path(running.key_file) if running and running.key_file else None)
    except EncryptionKeyError as exc:
        raise Failure(f"encryption keys: {exc}") from None
    try:
        return await connect_temporal(address, key_ring=key_ring, runtime=runtime)
    except RuntimeError as exc:
        raise Failure(f"cannot reach Temporal{' at ' + address if address else ''}: {exc}", EXIT_UNAVAILABLE) from None
    except ValueError as exc:  # an address that is no address (`host:notaport`): retrying will not help
        raise Failure(f"configuration: the Temporal connection: {exc}") from None


def _database_url(args: argparse.Namespace) -> str:
    from starter.stack import read_stack_file

    settings = _settings()
    if settings.database_url:
        return settings.database_url
    running = read_stack_file(_data_dir(args))
    if running is not None and running.database_url:
        return running.database_url
    raise Failure(f"DATABASE_URL is not set and no `complaints dev` is running on {_data_dir(args)}", EXIT_UNAVAILABLE)


async def _complaints(args: argparse.Namespace) -> ComplaintClient:
    from starter.client import ComplaintClient

    settings = _settings()
    company = _company(settings)
    return ComplaintClient(
        await _temporal(args), task_queue=settings.task_queue, receipt_window=settings.receipt_window, company=company
    )


def _company(settings: Settings) -> CompanyProfile:
    try:
        return settings.company()
    except CompanyProfileError as exc:
        raise Failure(f"configuration: the company profile: {exc}") from None


async def _answered(call: Awaitable[T], complaint_id: str, patience: float, meanwhile: str = "") -> T:
    """Await a call a worker must answer; map Temporal's errors to our exit statuses.

    `meanwhile` tells what already happened should no worker answer in time."""
    from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
    from temporalio.service import RPCError, RPCStatusCode

    from starter.client import ActionFailed

    try:
        return await asyncio.wait_for(call, patience)
    except ActionFailed as exc:
        raise Failure(str(exc)) from None
    except WorkflowQueryFailedError as exc:
        raise Failure(f"complaint {complaint_id}: {exc}") from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):  # the latter: an update cut short by our wait
        raise Failure(
            f"complaint {complaint_id}: no worker answered within {patience:.0f}s{meanwhile} "
            "(is `complaints dev` or `complaints worker` running, and its PostgreSQL reachable?)",
            EXIT_UNAVAILABLE,
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND and "completed" in exc.message:
            raise Failure(f"complaint {complaint_id} has ended; `complaints show` tells how") from None
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Failure(f"complaint {complaint_id} not found ({exc.message})") from None
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise Failure(f"Temporal unavailable: {exc.message}", EXIT_UNAVAILABLE) from None
        raise Failure(f"complaint {complaint_id}: {exc.message}") from None


# ---- what the commands print ----


def describe(state: ComplaintState) -> dict[str, Any]:
    """The complaint as `start`, `act` and `show` print it: where it stands and what is due when."""
    from starter.client import workflow_id_for

    clocks = state.deadlines.model_dump(mode="json")
    flags = state.model_dump(
        mode="json", include={"first_responded_at", "first_response_breached", "resolution_breached"}
    )
    return {
        "complaint_id": state.complaint_id,
        "workflow_id": workflow_id_for(state.complaint_id),
        "case_number": state.case_number,
        "stage": state.stage.value,
        "department": state.department,
        "channel": state.intake.channel.value,
        "subject": state.intake.subject,
        "cycle": state.cycle,
        **clocks,
        **flags,
        "escalation_level": int(state.escalation_level),
        "escalation": state.escalation_level.name.lower(),
    }


# ---- commands ----


async def cmd_start(args: argparse.Namespace) -> int:
    from starter.client import parse_intake

    raw = _read_json(args.file, "intake")
    settings = _settings()
    # Before connecting: bad input (an unknown department too) starts nothing.
    intake = parse_intake(raw, window=settings.receipt_window, company=_company(settings))
    complaint_id = intake.complaint_id or uuid.uuid4().hex  # chosen here, so a timeout can still name it
    intake = intake.model_copy(update={"complaint_id": complaint_id})
    client = await _complaints(args)
    state = await _answered(
        client.start(intake),
        complaint_id,
        args.timeout,
        "; it is started and gets its case number once a worker runs",
    )
    _emit(describe(state))
    return EXIT_OK


async def cmd_act(args: argparse.Namespace) -> int:
    complaint_id = _complaint_id(args.complaint_id)
    action = _action(args.action)
    data = _action_data(args.data) if args.data is not None else {}
    try:  # the request's own fields, checked before connecting; the action's data is the workflow's to judge
        request = ActionRequest(
            actor=args.actor,
            role=Role(args.role),
            data=data,
            door=Door.CLI,
            request_id=uuid.uuid4().hex if args.request_id is None else args.request_id,
        )
    except ValidationError as exc:
        raise Failure(_first_error(exc)) from None
    client = await _complaints(args)
    state = await _answered(
        client.act(
            complaint_id,
            action,
            actor=request.actor,
            role=request.role,
            data=data,
            request_id=request.request_id,
            door=Door.CLI,
        ),
        complaint_id,
        args.timeout,
        f"; if it was accepted it applies once the worker can record it, and sending it again with --request-id"
        f" {request.request_id} is safe",
    )
    allowed = await _answered(client.allowed_actions(complaint_id, request.role), complaint_id, args.timeout)
    _emit({**describe(state), "allowed_actions": [a.value for a in allowed]})
    return EXIT_OK


async def cmd_show(args: argparse.Namespace) -> int:
    from workflows.complaint import ComplaintWorkflow

    complaint_id = _complaint_id(args.complaint_id)
    client = await _complaints(args)
    handle = client.handle(complaint_id)
    role = Role(args.role) if args.role else None
    state, allowed, timeline = await _answered(
        asyncio.gather(
            handle.query(ComplaintWorkflow.get_state),
            handle.query(ComplaintWorkflow.allowed_actions, role),
            handle.query(ComplaintWorkflow.timeline),
        ),
        complaint_id,
        args.timeout,
    )
    details = state.model_dump(
        mode="json",
        include={
            "intake",
            "cause",
            "plan",
            "approval",
            "resolution",
            "resolved_at",
            "closed_at",
            "merged_into",
            "duplicates",
        },
    )
    _emit(
        {
            **describe(state),
            "allowed_actions": [a.value for a in allowed],
            **details,
            "timeline": [event.model_dump(mode="json") for event in timeline],
        }
    )
    return EXIT_OK


def _postgres_unreachable(exc: BaseException) -> str:
    """One line for stderr: what is wrong and that it is worth retrying; the error, never the DSN."""
    detail = str(exc).strip() or type(exc).__name__
    return f"cannot reach PostgreSQL (records temporarily unavailable; try again shortly): {detail}"


@contextlib.asynccontextmanager
async def _records(args: argparse.Namespace) -> AsyncIterator[ComplaintQueries]:
    """The records on PostgreSQL for one read, with its failures as the command's exit statuses (3: unreachable)."""
    import asyncpg

    from activities.database import create_pool, database_unavailable
    from activities.queries import ComplaintQueries

    dsn = _database_url(args)
    try:
        pool = await create_pool(dsn, min_size=1, max_size=1, connect_timeout=POSTGRES_CONNECT_TIMEOUT)
    except (OSError, asyncpg.PostgresError) as exc:
        raise Failure(_postgres_unreachable(exc), EXIT_UNAVAILABLE) from None
    except (ValueError, OverflowError) as exc:  # a URL asyncpg cannot use (scheme, port, sslmode); never echoed
        raise Failure(f"configuration: the database URL: {exc}") from None
    try:
        yield ComplaintQueries(pool)
    except asyncpg.UndefinedTableError:
        raise Failure("the database has no complaints schema yet: start a worker once (it migrates)") from None
    except Exception as exc:  # the server went away between connecting and answering
        if not database_unavailable(exc):
            raise
        raise Failure(_postgres_unreachable(exc), EXIT_UNAVAILABLE) from None
    finally:
        await pool.close()


async def cmd_list(args: argparse.Namespace) -> int:
    department = _department(args.department) if args.department is not None else None
    async with _records(args) as records:
        summaries = await records.list_complaints(
            stage=Stage(args.stage) if args.stage else None,
            overdue=args.overdue,
            department=department,
            limit=args.limit,
            offset=args.offset,
        )
    _emit([summary.model_dump(mode="json") for summary in summaries])
    return EXIT_OK


async def cmd_refusals(args: argparse.Namespace) -> int:
    """The record writes PostgreSQL refused for good, newest first: what an admin looks into."""
    async with _records(args) as records:
        refused = await records.record_refusals(limit=args.limit)
    _emit([{**row, "refused_at": row["refused_at"].isoformat()} for row in refused])
    return EXIT_OK


def _department(text: str) -> str:
    try:
        return DEPARTMENT.validate_python(text)
    except ValidationError:
        raise Failure(
            f"--department {_quoted(text)}: a department's code, 2 to 40 lower-case letters, digits and '_'"
        ) from None


def cmd_schema(args: argparse.Namespace) -> int:
    model = Intake if args.action is None else ACTION_DATA[_action(args.action)]
    _emit(model.model_json_schema())
    return EXIT_OK


def _calendar() -> Any:
    try:
        return _settings().calendar()
    except CalendarFileError as exc:
        raise Failure(f"calendar: {exc}") from None


def cmd_deadline(args: argparse.Namespace) -> int:
    try:
        deadlines = compute_deadlines(_received_at(args.received_at), _calendar())
    except ValueError as exc:  # a receipt outside the calendar's years (year 1, 9999): one line, never a traceback
        raise Failure(str(exc)) from None
    _emit(deadlines.model_dump(mode="json"))
    return EXIT_OK


async def cmd_worker(args: argparse.Namespace) -> int:
    from starter.stack import stop_on_signals
    from worker import MetricsAddressError, run_worker, worker_runtime

    settings = _settings().model_copy(update={"database_url": _database_url(args)})
    try:
        runtime = worker_runtime(settings)
    except MetricsAddressError as exc:
        raise Failure(str(exc), EXIT_UNAVAILABLE) from None
    client = await _temporal(args, runtime)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await run_worker(settings, client, stop)
    return EXIT_OK


async def cmd_web(args: argparse.Namespace) -> int:
    from starter.stack import read_stack_file, stop_on_signals
    from web.commands import run_web
    from web.settings import WebSettings

    database_url = _database_url(args)
    client = await _temporal(args)
    running = read_stack_file(_data_dir(args))
    web_settings = WebSettings(temporal_ui=running.temporal_ui) if running and running.temporal_ui else WebSettings()
    stop = asyncio.Event()
    with stop_on_signals(stop):
        try:
            await run_web(database_url, client, stop, host=args.host, port=args.port, web_settings=web_settings)
        except OSError as exc:
            raise Failure(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", EXIT_UNAVAILABLE) from None
    return EXIT_OK


async def cmd_user_add(args: argparse.Namespace) -> int:
    from web.commands import create_user
    from web.users import UserError

    password = _password(args, "password: ")
    try:
        user = await create_user(_database_url(args), args.username, password, args.role)
    except UserError as exc:
        raise Failure(str(exc)) from None
    _emit({"username": user.username, "role": user.role})
    return EXIT_OK


async def cmd_user_change(args: argparse.Namespace) -> int:
    """`complaints user list|disable|enable|role|password`: the users page's changes, for an admin at a terminal
    (or the first admin, before anyone can sign in). Disabling and a new password end the user's sessions."""

    from activities.database import database_unavailable
    from web.commands import administer_users
    from web.users import User, UserError, list_users, set_disabled, set_password, set_role

    def shown(user: User) -> dict[str, Any]:
        return {"username": user.username, "role": user.role.value, "disabled": user.disabled}

    command = args.user_command
    if command == "password":
        password = _password(args, "new password: ")
    try:
        if command == "list":
            _emit([shown(user) for user in await administer_users(_database_url(args), list_users)])
            return EXIT_OK
        if command in ("disable", "enable"):
            changed = await administer_users(
                _database_url(args), lambda pool: set_disabled(pool, args.username, command == "disable")
            )
        elif command == "role":
            changed = await administer_users(_database_url(args), lambda pool: set_role(pool, args.username, args.role))
        else:
            changed = await administer_users(
                _database_url(args), lambda pool: set_password(pool, args.username, password)
            )
    except UserError as exc:
        raise Failure(str(exc)) from None
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        raise Failure(_postgres_unreachable(exc), EXIT_UNAVAILABLE) from None
    _emit(shown(changed))
    return EXIT_OK


async def cmd_dev(args: argparse.Namespace) -> int:
    from starter.codec import EncryptionKeyError
    from starter.stack import StackError, dev_stack, stop_on_signals

    stop = asyncio.Event()
    started = time.monotonic()
    os.umask(0o077)  # everything the stack writes under its data directory is its owner's alone
    with stop_on_signals(stop):
        try:
            async with dev_stack(
                Path(args.data_dir) if args.data_dir else _settings().data_dir,
                temporal_port=args.temporal_port,
                ui_port=args.ui_port,
                web_port=None if args.no_web else args.web_port,
                settings=_settings(),
            ) as stack:
                info = stack.info
                _emit(
                    {
                        "web": info.web,
                        "temporal_ui": info.temporal_ui,
                        "temporal_address": info.temporal_address or _settings().temporal_address,
                        "database_url": info.database_url or "(DATABASE_URL)",
                        "data_dir": info.data_dir,
                        "metrics": info.metrics,
                        "key_file": info.key_file or "(COMPLAINTS_ENCRYPTION_KEYS / COMPLAINTS_KEY_FILE)",
                    }
                )
                print(
                    f"complaints dev ready in {time.monotonic() - started:.1f}s; Ctrl-C stops everything "
                    f"(data is kept in {info.data_dir})",
                    file=sys.stderr,
                    flush=True,
                )
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({stopping, stack.worker}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if stack.worker.done() and not stop.is_set():
                    error = stack.worker.exception() if not stack.worker.cancelled() else None
                    raise Failure(f"the worker stopped: {error!r}", EXIT_UNAVAILABLE)
        except StackError as exc:
            raise Failure(str(exc), EXIT_UNAVAILABLE) from None
        except EncryptionKeyError as exc:
            raise Failure(f"encryption keys: {exc}") from None
    print("complaints dev stopped", file=sys.stderr, flush=True)
    return EXIT_OK


# ---- the parser ----


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """The usage on one line and the error on the next, whatever the terminal's width or the argument."""
        usage = " ".join(self.format_usage().split())
        self.exit(EXIT_USAGE, f"{usage}\n{self.prog}: error: {_one_line(message)}\n")


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`, else a usage error that gives the range."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not digits, or more than 4,300 of them
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, not {_quoted(text)}")
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
            f"must be a number of seconds greater than 0 and at most {MAX_TIMEOUT:.0f}, not {_quoted(text)}"
        )
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 picks a free one), not {_quoted(text)}")
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
    dev.add_argument("--no-web", action="store_true", help="leave the web form out")
    dev.set_defaults(run=cmd_dev)

    worker = commands.add_parser("worker", parents=[where], help="run a worker (DATABASE_URL, TEMPORAL_ADDRESS)")
    worker.set_defaults(run=cmd_worker)

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
        _say("", unreadable)
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
        _say(args.command, str(exc))
        return exc.status
    except IntakeError as exc:
        _say(args.command, f"{exc.field}: {exc.problem}")
        return EXIT_REFUSED
    except CompanyProfileError as exc:  # the worker's or the web's, read as they start
        _say(args.command, f"configuration: the company profile: {exc}")
        return EXIT_REFUSED
    except OverflowError as exc:  # a date or number beyond what the arithmetic holds can only come from input
        _say(args.command, f"a value out of range: {exc}")
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
            _say("", f"internal error ({type(exc).__name__} at {Path(where.filename).name}:{where.lineno}): {exc}")
        status = EXIT_REFUSED
    if argv is not None:
        return status
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
