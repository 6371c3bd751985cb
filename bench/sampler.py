"""A small sampling profiler for `--profile`: no profiler package is in the lock file (py-spy, pyinstrument), and
cProfile sees only its own thread while workflow activations run on the worker's thread pool.

A background thread reads every other thread's current stack (`sys._current_frames`) every few milliseconds and
counts, per function, the samples where it is on the stack (inclusive) and on top (self). Threads parked in a
wait (the event loop's select, an idle pool thread) are left out, so the counts are where Python time goes."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

IDLE = frozenset({"select", "poll", "wait", "_worker", "get", "_wait_for_tstate_lock", "epoll", "_do_waitpid"})
"""Leaf functions of a parked thread."""


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = Path(code.co_filename)
    parts = path.parts
    short = "/".join(parts[parts.index("site-packages") + 1 :]) if "site-packages" in parts else "/".join(parts[-2:])
    return f"{code.co_name} ({short}:{code.co_firstlineno})"


class Sampler:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.inclusive: Counter[str] = Counter()
        self.own: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident == me or frame.f_code.co_name in IDLE:
                    continue
                self.samples += 1
                self.own[_where(frame)] += 1
                seen: set[str] = set()
                current: FrameType | None = frame
                while current is not None:
                    where = _where(current)
                    if where not in seen:
                        seen.add(where)
                        self.inclusive[where] += 1
                    current = current.f_back
            time.sleep(self.interval)

    def report(self, top: int = 25) -> str:
        lines = [f"{self.samples} busy samples"]
        total = max(1, self.samples)
        lines.append("-- self --")
        lines += [f"{count / total:6.1%}  {where}" for where, count in self.own.most_common(top)]
        lines.append("-- inclusive --")
        lines += [f"{count / total:6.1%}  {where}" for where, count in self.inclusive.most_common(top * 2)]
        return "\n".join(lines)
