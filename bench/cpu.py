"""CPU seconds spent by each part of the stack during a measurement, read from /proc.

On a small shared machine a wall-clock ratio says how much slower, not why; the CPU each process (this one: client
and in-process worker; the Temporal dev server; PostgreSQL's backends) spent on the same work says where it went."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == parent:
            found.append(int(entry.name))
    return found


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


@dataclass
class CpuMeter:
    """The parts to watch: a name for one pid, or for a parent whose children (Postgres backends) are summed."""

    single: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.single.items()}
        for name, parent in self.families.items():
            now[name] = cpu_seconds(parent) + sum(cpu_seconds(child) for child in children_of(parent))
        return now

    @contextmanager
    def measuring(self, into: dict[str, float]) -> Iterator[None]:
        """Fills `into` with the CPU seconds each part spent inside the block (a backend that exited during it
        is missed: the pool keeps its connections, so none do)."""
        before = self.read()
        yield
        after = self.read()
        into.update({name: after[name] - before.get(name, 0.0) for name in after})
