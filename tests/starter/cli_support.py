"""Running the `complaints` console script as a subprocess, the way other services call it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from samples import COMPLAINTS


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
