"""Fault drills (issue 5, "Faults" 1 and 2): a worker killed with SIGKILL mid-lifecycle, and the Temporal dev server
stopped and restarted on its SQLite file while complaints wait on their timers."""

from __future__ import annotations

import asyncio
import functools
import signal
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fault_support import (
    LIFECYCLE,
    QUICK_HANDOVER,
    Workers,
    eventually,
    every_complaint_recorded_once,
    handover_waits,
    retrying,
)
from samples import make_intake
from temporalio.client import Client
from temporalio.service import RPCError

from complaints.temporal_server import free_port, temporal_dev_server
from domain.actions import Action, Role
from domain.models import ComplaintState, Stage
from starter.client import ComplaintClient, workflow_id_for
from starter.codec import KeyRing
from starter.connection import connect_temporal

pytestmark = [pytest.mark.faults, pytest.mark.temporal, pytest.mark.postgres]

N_COMPLAINTS = 200
IN_FLIGHT = 50
"""Complaints driven at once (a batch window): enough to keep the worker busy, few enough for a 2-core machine."""


async def test_worker_killed_mid_lifecycle(
    tmp_path: Path, workers: Workers, key_ring: KeyRing, database_url: str
) -> None:
    """Fault 1: SIGKILL the only worker while complaints are mid-lifecycle, start another. Every complaint still
    closes, every call gets its answer (retried with the same request id), nothing is recorded twice."""
    async with temporal_dev_server(tmp_path / "temporal", free_port(), free_port()) as address:
        first = workers.start(address, QUICK_HANDOVER)
        client: Client = await connect_temporal(address, key_ring=key_ring)
        complaints = ComplaintClient(client)
        total_actions = N_COMPLAINTS * len(LIFECYCLE)
        done = 0
        halfway = asyncio.Event()
        killed_after: list[int] = []
        outage: list[float] = []
        latencies: list[float] = []
        gate = asyncio.Semaphore(IN_FLIGHT)
        ids = [f"fault-{uuid.uuid4().hex[:12]}" for _ in range(N_COMPLAINTS)]

        async def timed(what: str, call: Callable[[], Awaitable[ComplaintState]]) -> ComplaintState:
            began = time.monotonic()
            state = await retrying(what, call)
            latencies.append(time.monotonic() - began)
            return state

        async def drive(cid: str) -> ComplaintState:
            nonlocal done
            async with gate:
                intake = make_intake(complaint_id=cid)
                state = await timed(f"start {cid}", lambda: complaints.start(intake))
                for step, (action, (role, actor), data) in enumerate(LIFECYCLE):
                    call = functools.partial(
                        complaints.act, cid, action, actor=actor, role=role, data=data, request_id=f"{cid}-{step}"
                    )
                    state = await timed(f"{action.value} on {cid}", call)
                    done += 1
                    if done >= total_actions // 2:
                        halfway.set()
                return state

        async def kill_and_replace() -> None:
            await halfway.wait()
            killed_after.append(done)
            began = time.monotonic()
            assert await asyncio.to_thread(workers.stop, first, signal.SIGKILL) == -signal.SIGKILL
            await asyncio.to_thread(workers.start, address, QUICK_HANDOVER)
            outage.append(time.monotonic() - began)

        started = time.monotonic()
        results = await asyncio.gather(kill_and_replace(), *(drive(cid) for cid in ids))
        finals: list[ComplaintState] = list(results[1:])
        print(
            f"{N_COMPLAINTS} lifecycles, {total_actions} actions in {time.monotonic() - started:.1f}s;"
            f" worker killed after {killed_after[0]} actions, the next one polling {outage[0]:.1f}s later;"
            f" calls took {statistics.median(latencies):.1f}s (median), {max(latencies):.1f}s (slowest)"
        )
        assert killed_after[0] < total_actions * 3 // 4, "the worker was killed too late to matter"
        print(f"handover waits: {dict(await handover_waits(client, map(workflow_id_for, ids)))}")

        states = [await complaints.state(cid) for cid in ids]
        assert all(s.stage is Stage.CLOSED for s in states)
        assert [s.last_seq for s in states] == [s.last_seq for s in finals] == [len(LIFECYCLE) + 1] * N_COMPLAINTS
        await every_complaint_recorded_once(states, database_url)


async def test_dev_server_restarted_mid_flight(tmp_path: Path, workers: Workers, key_ring: KeyRing) -> None:
    data_dir, port, ui_port = tmp_path / "temporal", free_port(), free_port()
    # The 24-hour first-response clock falls due ~20 s from now: after the restart, not before it.
    received_at = datetime.now(UTC) - timedelta(hours=24) + timedelta(seconds=20)
    ids = [f"restart-{uuid.uuid4().hex[:12]}" for _ in range(3)]

    async with temporal_dev_server(data_dir, port, ui_port) as address:
        worker = workers.start(address)
        complaints = ComplaintClient(await connect_temporal(address, key_ring=key_ring))
        for cid in ids:
            state = await complaints.start(make_intake(complaint_id=cid, received_at=received_at.isoformat()))
            assert not state.first_response_breached
            assert state.deadlines.first_response_due > datetime.now(UTC)
    stopped_at = datetime.now(UTC)
    assert stopped_at < received_at + timedelta(hours=24), "the server stopped after the clock fell due"

    async with temporal_dev_server(data_dir, port, free_port()) as address:  # same address; the UI port may linger
        complaints = ComplaintClient(await connect_temporal(address, key_ring=key_ring))
        if worker.poll() is not None:  # the worker may give up on a vanished server; a service would restart it
            print(f"worker exited with {worker.returncode} while the server was down; starting another")
            workers.start(address)

        async def all_breached() -> bool:
            try:
                states = [await complaints.state(cid) for cid in ids]
            except RPCError:
                return False
            return all(s.first_response_breached for s in states)

        await eventually(all_breached, 60, "the first-response timers fire after the restart")
        for cid in ids:
            state = await retrying(
                f"acknowledge {cid}",
                lambda cid=cid: complaints.act(cid, Action.ACKNOWLEDGE, actor="agent.lan", role=Role.AGENT),
                within=60,
            )
            assert state.stage is Stage.ANALYSING
            assert state.first_responded_at is not None
            kinds = [e.kind for e in (await complaints.state(cid)).timeline]  # an update answers without the history
            assert kinds[-2:] == ["first_response_escalated", "acknowledge"]
