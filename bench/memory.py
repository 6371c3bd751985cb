"""Figure 3: resident memory of a `complaints worker` process with many open complaints waiting on their timers,
against the same process with 100.

The worker runs as a service runs it (its own process, configured by the environment only); the benchmark starts
the complaints through the client SDK with bounded concurrency and reads VmRSS from /proc. One population per
run (10,000 complaints take minutes to start on a small machine), so the "rounds" here are several RSS readings
a second apart after the worker has gone quiet."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import CpuMeter, cpu_seconds
from bench.throughput import bench_id, intake
from complaints.temporal_server import free_port
from starter.client import ComplaintClient
from starter.codec import KeyRing

COMPLAINTS_COMMAND = Path(sys.executable).parent / "complaints"
START_CONCURRENCY = int(os.environ.get("BENCH_START_CONCURRENCY", "64"))
"""Starts in flight at once: enough to keep the worker's task slots busy without a queue of timeouts."""
_INHERITED = ("TEMPORAL_", "DATABASE_URL", "COMPLAINTS_")


@dataclass
class MemoryResult:
    counts: list[int] = field(default_factory=list)
    rss_mib: dict[int, list[float]] = field(default_factory=dict)
    start_seconds: dict[int, float] = field(default_factory=dict)
    """Wall seconds to start the complaints added to reach each count."""
    idle_rss_mib: list[float] = field(default_factory=list)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class WorkerProcess:
    """One `complaints worker`, configured through its environment only, logging to a file."""

    def __init__(
        self,
        temporal_address: str,
        database_url: str,
        key_ring: KeyRing,
        task_queue: str,
        log_dir: Path,
        max_cached_workflows: int | None = None,
    ) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith(_INHERITED)}
        env.update(
            TEMPORAL_ADDRESS=temporal_address,
            DATABASE_URL=database_url,
            COMPLAINTS_ENCRYPTION_KEYS=key_ring.to_spec(),
            COMPLAINTS_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
            COMPLAINTS_TASK_QUEUE=task_queue,
            COMPLAINTS_DATA_DIR=str(log_dir / "no-dev-stack"),
        )
        if max_cached_workflows is not None:
            env["COMPLAINTS_MAX_CACHED_WORKFLOWS"] = str(max_cached_workflows)
        self.env = env
        self.log = log_dir / "memory-worker.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                str(COMPLAINTS_COMMAND), "worker", env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while b"worker started" not in self.log.read_bytes():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"complaints worker did not start (see {self.log})")
            await asyncio.sleep(0.1)
        return self.proc.pid

    async def stop(self) -> None:
        """SIGTERM (the worker finishes what it holds), SIGKILL after 30 s."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def quiet(pid: int, budget: float = 30.0) -> None:
    """Until the worker has used under 2% of a CPU for a second: every start registered, every task done."""
    deadline = time.monotonic() + budget
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = cpu_seconds(pid)
        if now - before < 0.02:
            return
        before = now


async def readings(pid: int, count: int) -> list[float]:
    values = []
    for _ in range(count):
        values.append(rss_mib(pid))
        await asyncio.sleep(1.0)
    return values


async def start_many(complaints: ComplaintClient, count: int) -> float:
    """Start `count` complaints, START_CONCURRENCY at a time, each awaited until registered; wall seconds."""
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def one() -> None:
        async with gate:
            await complaints.start(intake(bench_id("mem")))

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started


async def measure(
    complaints: ComplaintClient,
    worker: WorkerProcess,
    counts: list[int],
    samples: int,
    budget_seconds: float,
    meter: CpuMeter,
) -> MemoryResult:
    """RSS at each count in `counts` (ascending), growing one population; stops early, and says so, when starting
    the next step would not fit in `budget_seconds` at the rate measured so far. `meter`'s parts' CPU
    is printed next to the worker's while starting."""
    pid = await worker.start()
    result = MemoryResult()
    await asyncio.sleep(2)
    result.idle_rss_mib = await readings(pid, samples)
    open_now = 0
    spent = 0.0
    for count in counts:
        more = count - open_now
        if spent and open_now and spent / open_now * more > budget_seconds - spent:
            print(f"  {count:,} would not fit in the time budget; stopping at {open_now:,}", flush=True)
            break
        meter.single["worker"] = pid
        cpu: dict[str, float] = {}
        with meter.measuring(cpu):
            seconds = await start_many(complaints, more)
        cpu_used = ", ".join(f"{name} {value:.0f}" for name, value in cpu.items())
        spent += seconds
        open_now = count
        await quiet(pid)
        result.counts.append(count)
        result.start_seconds[count] = seconds
        result.rss_mib[count] = await readings(pid, samples)
        print(
            f"  {count:,} open: RSS {statistics.median(result.rss_mib[count]):.0f} MiB"
            f" (started {more:,} in {seconds:.0f} s, {more / seconds:.1f}/s;"
            f" CPU s: {cpu_used})",
            flush=True,
        )
    return result
