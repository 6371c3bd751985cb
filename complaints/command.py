"""What every `complaints` command shares: the exit statuses, the one line on stderr, reading a caller's input,
and finding the servers (see `complaints.cli` for the rules they keep)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from domain.company import CompanyProfile, CompanyProfileError
from starter.settings import Settings, SettingsError

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.runtime import Runtime

    from starter.client import ComplaintClient
    from starter.codec import KeyRing

T = TypeVar("T")

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
DEFAULT_TIMEOUT = 30.0
"""Seconds `start` and `act` wait for a worker to answer before giving up (exit 3)."""
MAX_TIMEOUT = 86_400.0
"""A day: longer than any worker needs to answer; beyond it a `--timeout` is a typing mistake."""
POSTGRES_CONNECT_TIMEOUT = 10.0
"""Seconds `list` waits for a PostgreSQL connection before saying it is unreachable (exit 3)."""
MAX_INTAKE_BYTES = 1 << 20
"""An intake is a few kilobytes (a description holds at most 10,000 characters); a mebibyte is a wrong file."""
MAX_MESSAGE_CHARS = 1000
"""How much of a message stderr gets: a refusal that echoes a 100,000-character argument stays readable."""
MAX_QUOTED_CHARS = 60
"""How much of a caller's value a message quotes back."""


class Failure(Exception):
    """Ends the command with `status` and one line on stderr."""

    def __init__(self, message: str, status: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.status = status


def emit(value: Any) -> None:
    with contextlib.suppress(BrokenPipeError):  # the reader stopped reading (`| head`): it has what it wanted
        print(json.dumps(value, ensure_ascii=False, indent=2), flush=True)


def one_line(message: str) -> str:
    """`message` as one printable line: line breaks, control, format and bidi characters, and the halves of
    undecodable bytes are shown escaped, so nothing a caller typed can add lines or rewrite the terminal."""
    shown = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in message)
    return shown if len(shown) <= MAX_MESSAGE_CHARS else shown[: MAX_MESSAGE_CHARS - 1] + "…"


def quoted(value: str) -> str:
    """A caller's value quoted in a message, shortened: enough to recognise it, never the whole of a huge one."""
    return repr(value if len(value) <= MAX_QUOTED_CHARS else value[: MAX_QUOTED_CHARS - 1] + "…")


def say(command: str, message: str) -> None:
    """The one line on stderr that ends a command: `complaints <command>: <field or problem>`."""
    prefix = f"complaints {command}" if command else "complaints"
    print(f"{prefix}: {one_line(message)}", file=sys.stderr, flush=True)


def read_settings() -> Settings:
    try:
        return Settings()
    except SettingsError as exc:
        raise Failure(f"configuration: {exc}") from None


def company_of(settings: Settings) -> CompanyProfile:
    try:
        return settings.company()
    except CompanyProfileError as exc:
        raise Failure(f"configuration: the company profile: {exc}") from None


def data_dir_of(args: argparse.Namespace) -> Path:
    return Path(args.data_dir) if args.data_dir else read_settings().data_dir


# ---- reading input ----


def read_json(source: str, what: str) -> Any:
    """JSON from a file, or from stdin for `-`; `Failure` naming the source when it is not UTF-8 JSON.

    Read as bytes and at most `MAX_INTAKE_BYTES`: the text's encoding is checked here, whatever the locale
    (a strict one raises on a bad byte, the C locale smuggles it in as a surrogate), and `/dev/zero` ends."""
    if not source:
        raise Failure(f"{what}: no file named (a path, or - for stdin)")
    where = "stdin" if source == "-" else source
    try:
        if source == "-":
            raw = read_stdin(MAX_INTAKE_BYTES + 1)
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
    return parse_json(text, f"{what} ({where})")


def read_stdin(limit: int) -> bytes:
    """Up to `limit` bytes of standard input; a text-only stdin (a test's StringIO) is encoded back, its
    surrogates kept so the UTF-8 check sees them."""
    if sys.stdin is None:
        raise Failure("no standard input to read")
    binary = getattr(sys.stdin, "buffer", None)
    if binary is not None:
        return bytes(binary.read(limit))
    return str(sys.stdin.read(limit)).encode("utf-8", "surrogatepass")


def _not_json(constant: str) -> Any:
    """`NaN` and `Infinity`: Python's json reads them, no other JSON reader does, and no field wants them."""
    raise ValueError(f"{constant} is not a JSON number")


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise Failure(f"{what}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # `[` x 100,000: the parser recurses once per level
        raise Failure(f"{what}: invalid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, or a number of more than 4,300 digits
        raise Failure(f"{what}: invalid JSON: {exc}") from None


# ---- the servers ----


def key_ring_of(args: argparse.Namespace) -> KeyRing:
    """The configured keys; then the running `complaints dev`'s key file; else `Failure`."""
    from complaints.data_dir import read_stack_file
    from starter.codec import EncryptionKeyError
    from starter.connection import key_ring_from_settings

    running = read_stack_file(data_dir_of(args))
    try:
        return key_ring_from_settings(read_settings(), Path(running.key_file) if running and running.key_file else None)
    except EncryptionKeyError as exc:
        raise Failure(f"encryption keys: {exc}") from None


async def temporal_client(args: argparse.Namespace, runtime: Runtime | None = None) -> Client:
    """Connect: `TEMPORAL_ADDRESS` (envconfig) wins; then a running `complaints dev`; then the default.
    The keys: the configured ones; then the running `complaints dev`'s key file; else refuse."""
    from complaints.data_dir import read_stack_file
    from starter.connection import connect_temporal

    settings = read_settings()
    running = read_stack_file(data_dir_of(args))
    address = running.temporal_address if running and settings.temporal_address is None else None
    key_ring = key_ring_of(args)
    try:
        return await connect_temporal(address, key_ring=key_ring, runtime=runtime)
    except RuntimeError as exc:
        raise Failure(f"cannot reach Temporal{' at ' + address if address else ''}: {exc}", EXIT_UNAVAILABLE) from None
    except ValueError as exc:  # an address that is no address (`host:notaport`): retrying will not help
        raise Failure(f"configuration: the Temporal connection: {exc}") from None


def database_url_of(args: argparse.Namespace) -> str:
    from complaints.data_dir import read_stack_file

    settings = read_settings()
    if settings.database_url:
        return settings.database_url
    running = read_stack_file(data_dir_of(args))
    if running is not None and running.database_url:
        return running.database_url
    raise Failure(
        f"DATABASE_URL is not set and no `complaints dev` is running on {data_dir_of(args)}", EXIT_UNAVAILABLE
    )


async def complaint_client(args: argparse.Namespace) -> ComplaintClient:
    from starter.client import ComplaintClient

    settings = read_settings()
    return ComplaintClient(
        await temporal_client(args),
        task_queue=settings.task_queue,
        receipt_window=settings.receipt_window,
        company=company_of(settings),
    )


async def answered(call: Awaitable[T], complaint_id: str, patience: float, meanwhile: str = "") -> T:
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


def postgres_unreachable(exc: BaseException) -> str:
    """One line for stderr: what is wrong and that it is worth retrying; the error, never the DSN."""
    detail = str(exc).strip() or type(exc).__name__
    return f"cannot reach PostgreSQL (records temporarily unavailable; try again shortly): {detail}"
