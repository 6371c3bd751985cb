"""Figure 1: complaints per second through the whole lifecycle, against the bare workflow doing the same number of
updates and activities (the Temporal floor)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.cpu import CpuMeter
from bench.floor import BareWorkflow
from domain.actions import Action, Role
from starter.client import ComplaintClient

TESTS = Path(__file__).resolve().parent.parent / "tests"
for folder in (TESTS, TESTS / "faults"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from fault_support import LIFECYCLE  # type: ignore[import-not-found]  # noqa: E402
from samples import make_intake  # type: ignore[import-not-found]  # noqa: E402

Step = tuple[Action, tuple[Role, str], dict[str, Any]]
STEPS: list[Step] = list(LIFECYCLE)
"""The fault drill's lifecycle (acknowledge ... close), so the benchmark drives what the drills prove correct."""


def intake(complaint_id: str) -> dict[str, Any]:
    """The tests' sample intake (a customer with contacts, by e-mail) under the given id."""
    made: dict[str, Any] = make_intake(complaint_id=complaint_id)
    return made


def bench_id(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:12]}"


async def drive_complaint(complaints: ComplaintClient, complaint_id: str) -> None:
    """Start one complaint and take it through every step, as a service would, one call after the other."""
    await complaints.start(intake(complaint_id))
    for step, (action, (role, actor), data) in enumerate(STEPS):
        await complaints.act(
            complaint_id, action, actor=actor, role=role, data=data, request_id=f"{complaint_id}-{step}"
        )


async def drive_bare(
    client: Client, task_queue: str, workflow_id: str, visible: bool = False, local: bool = False
) -> None:
    """The same calls on the bare workflow: a start awaited through an update, then one update per step."""
    handle = await client.start_workflow(
        BareWorkflow.run, args=[[], visible, local], id=workflow_id, task_queue=task_queue
    )
    await handle.execute_update(BareWorkflow.registered)
    for step in range(len(STEPS)):
        await handle.execute_update(BareWorkflow.act, step, id=f"{workflow_id}-{step}")


async def complaints_per_second(complaints: ComplaintClient, count: int) -> float:
    ids = [bench_id("life") for _ in range(count)]
    started = time.perf_counter()
    await asyncio.gather(*(drive_complaint(complaints, cid) for cid in ids))
    return count / (time.perf_counter() - started)


async def bare_per_second(
    client: Client, task_queue: str, count: int, visible: bool = False, local: bool = False
) -> float:
    ids = [bench_id("floor") for _ in range(count)]
    started = time.perf_counter()
    await asyncio.gather(*(drive_bare(client, task_queue, wid, visible, local) for wid in ids))
    return count / (time.perf_counter() - started)


@dataclass
class ThroughputResult:
    values: list[float] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)
    cpu: list[dict[str, float]] = field(default_factory=list)
    """Per round, CPU milliseconds per complaint by part of the stack."""
    floor_cpu: list[dict[str, float]] = field(default_factory=list)
    visible: list[float] = field(default_factory=list)
    """Per round, the bare workflow with the operator's view (BareWorkflow's `visible`), per second."""
    visible_cpu: list[dict[str, float]] = field(default_factory=list)
    local: list[float] = field(default_factory=list)
    """Per round, the bare workflow with the operator's view and local no-op activities, per second."""
    local_cpu: list[dict[str, float]] = field(default_factory=list)


async def measure(
    complaints: ComplaintClient, floor_queue: str, count: int, rounds: int, meter: CpuMeter
) -> ThroughputResult:
    """Complaints/s and bare workflows/s per round, with the CPU each part of the stack spent; the order
    alternates so neither always runs on a warmer server."""
    await complaints_per_second(complaints, max(2, count // 10))  # warm: sandbox imports, prepared statements
    await bare_per_second(complaints.client, floor_queue, max(2, count // 10))
    await bare_per_second(complaints.client, floor_queue, max(2, count // 10), visible=True, local=True)
    result = ThroughputResult()

    async def timed(rate: Callable[[], Awaitable[float]], rates: list[float], cpu: list[dict[str, float]]) -> None:
        spent: dict[str, float] = {}
        with meter.measuring(spent):
            rates.append(await rate())
        cpu.append({name: seconds * 1000 / count for name, seconds in spent.items()})

    client = complaints.client
    parts = [
        (lambda: complaints_per_second(complaints, count), result.values, result.cpu),
        (lambda: bare_per_second(client, floor_queue, count), result.baselines, result.floor_cpu),
        (lambda: bare_per_second(client, floor_queue, count, visible=True), result.visible, result.visible_cpu),
        (
            lambda: bare_per_second(client, floor_queue, count, visible=True, local=True),
            result.local,
            result.local_cpu,
        ),
    ]
    for round_ in range(rounds):
        for part in parts if round_ % 2 == 0 else parts[::-1]:
            await timed(*part)
        print(
            f"  round {round_ + 1}: {result.values[-1]:.2f} complaints/s, floor {result.baselines[-1]:.2f}/s,"
            f" with the operator's view {result.visible[-1]:.2f}/s, with the view and local activities"
            f" {result.local[-1]:.2f}/s; CPU ms per complaint {_cpu_text(result.cpu[-1])};"
            f" per bare run {_cpu_text(result.floor_cpu[-1])}; with the view {_cpu_text(result.visible_cpu[-1])};"
            f" with the view and local activities {_cpu_text(result.local_cpu[-1])}",
            flush=True,
        )
    return result


def _cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {ms:.0f}" for name, ms in cpu.items())
