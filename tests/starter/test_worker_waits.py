"""A worker that wins the race with its cluster's setup job (issue 12): it waits for the namespace and the search
attributes instead of polling without them, and starts once they are there."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from samples import COMPLAINTS, make_intake
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from domain.actions import Action, Role
from domain.models import Stage
from starter.client import ComplaintClient
from starter.codec import KeyRing
from starter.connection import connect_temporal, namespace_setup

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


WAITS = "worker waits for its namespace before polling"


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen([str(COMPLAINTS), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


def wait_for_line(proc: subprocess.Popen[str], log: Path, line: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while line not in log.read_text():
        assert proc.poll() is None, f"complaints worker exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {line!r} from the worker:\n{log.read_text()}"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[str], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_worker_waits_for_its_namespace_then_serves(
    temporal_address: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    namespace = f"late-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    proc = await asyncio.to_thread(spawn_worker, {**server_env, "TEMPORAL_NAMESPACE": namespace}, log)
    try:
        await asyncio.to_thread(wait_for_line, proc, log, WAITS)
        await asyncio.sleep(1.5)  # a backoff or two: still waiting, still not polling
        assert "worker started" not in log.read_text()
        assert proc.poll() is None

        admin = await Client.connect(temporal_address)
        await admin.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period={"seconds": 86400})
        )
        # the worker registers the search attributes itself, then polls
        await asyncio.to_thread(wait_for_line, proc, log, "worker started")
        assert "worker waits" in log.read_text()

        ring = KeyRing.from_spec(server_env["COMPLAINTS_ENCRYPTION_KEYS"])
        client = await connect_temporal(temporal_address, key_ring=ring, namespace=namespace)
        assert (await namespace_setup(client)).ready
        complaints = ComplaintClient(client)
        intake = make_intake()
        cid = intake["complaint_id"]
        deadline = time.monotonic() + 30
        while True:  # a fresh namespace's search attributes may take a moment to reach every frontend cache
            try:
                state = await complaints.start(intake)
                break
            except RPCError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        assert state.stage is Stage.RECEIVED
        state = await complaints.act(cid, Action.ACKNOWLEDGE, actor="agent.lan", role=Role.AGENT)
        assert state.stage is Stage.ANALYSING
    finally:
        await asyncio.to_thread(stop, proc, log)


def test_worker_stops_promptly_while_it_waits(server_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    proc = spawn_worker({**server_env, "TEMPORAL_NAMESPACE": f"never-{uuid.uuid4().hex[:8]}"}, log)
    try:
        wait_for_line(proc, log, WAITS)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log.read_text()
        assert time.monotonic() - began < 5, "a worker waiting for its namespace must stop on SIGTERM at once"
        assert "worker started" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_worker_waits_for_an_operator_when_an_attribute_has_another_type(
    temporal_address: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    """A search attribute registered with the wrong type is not the worker's to change: it waits, saying which."""
    namespace = f"mistyped-{uuid.uuid4().hex[:8]}"
    admin = await Client.connect(temporal_address, namespace=namespace)
    await admin.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period={"seconds": 86400})
    )
    wrong = AddSearchAttributesRequest(
        namespace=namespace, search_attributes={"ComplaintStage": IndexedValueType.INDEXED_VALUE_TYPE_INT}
    )
    deadline = time.monotonic() + 30
    while True:  # the new namespace reaches the frontend's cache within seconds
        try:
            await admin.operator_service.add_search_attributes(wrong)
            break
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    log = tmp_path / "worker.log"
    proc = await asyncio.to_thread(spawn_worker, {**server_env, "TEMPORAL_NAMESPACE": namespace}, log)
    try:
        await asyncio.to_thread(wait_for_line, proc, log, "registered with another type: waits for an operator")
        assert "ComplaintStage: INT, not KEYWORD" in log.read_text()
        assert "worker started" not in log.read_text()
    finally:
        await asyncio.to_thread(stop, proc, log)
