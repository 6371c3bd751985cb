"""What every test folder shares: a valid intake as a service sends it, and how to run the `complaints` command
in a clean environment. (tests/ is on the import path through tests/conftest.py.)"""

from __future__ import annotations

import os
import sys
import uuid
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


def make_intake(**overrides: Any) -> dict[str, Any]:
    """A valid intake with a fresh complaint id; keyword arguments override fields."""
    data: dict[str, Any] = {
        "customer": {"name": "Trần Thị Bích", "phone": "0912345678", "email": "bich@example.vn"},
        "channel": "email",
        "subject": "Máy chủ VPS mất kết nối",
        "description": "VPS của tôi không truy cập được từ 8 giờ sáng nay.",
        "service": "VPS",
        "complaint_id": uuid.uuid4().hex,
    }
    data.update(overrides)
    return data
