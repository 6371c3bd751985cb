"""Running the `complaints` console script as a subprocess, the way other services call it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPLAINTS = Path(sys.executable).parent / "complaints"
"""The console script of this environment, exactly as pyproject declares it."""

_INHERITED = ("TEMPORAL_", "DATABASE_URL", "COMPLAINTS_")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment minus anything that would point a command at another server or data dir."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_INHERITED)}
    env.update(extra)
    return env


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def complaints(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60) -> Result:
    done = subprocess.run(
        [str(COMPLAINTS), *args], input=stdin, env=env, capture_output=True, text=True, timeout=timeout
    )
    return Result(done.returncode, done.stdout, done.stderr)


def make_intake(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "customer": {"name": "Nguyễn Văn An", "phone": "0912 345 678", "email": "an@example.vn"},
        "channel": "support_ticket",
        "subject": "Hóa đơn tháng 10 bị tính trùng",
        "description": "Tôi bị trừ tiền hai lần cho cùng một hóa đơn.",
        "complaint_id": f"cli-{uuid.uuid4().hex[:12]}",
    }
    data.update(overrides)
    return data
