"""A worker that wins the race with its cluster's setup job (issue 12): it waits for the namespace and the search
attributes instead of polling without them, and starts once they are there."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import pytest
from dev_process import Processes
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


def spawn_worker(processes: Processes, env: dict[str, str], namespace: str) -> subprocess.Popen[str]:
    """A worker for `namespace`, once it says it waits for it."""
    return processes.launch([str(COMPLAINTS), "worker"], {**env, "TEMPORAL_NAMESPACE": namespace}, ready=WAITS)


async def test_worker_waits_for_its_namespace_then_serves(
    temporal_address: str, server_env: dict[str, str], processes: Processes
) -> None:
    namespace = f"late-{uuid.uuid4().hex[:8]}"
    proc = await asyncio.to_thread(spawn_worker, processes, server_env, namespace)
    try:
        await asyncio.sleep(1.5)  # a backoff or two: still waiting, still not polling
        assert "worker started" not in processes.log_of(proc)
        assert proc.poll() is None

        admin = await Client.connect(temporal_address)
        await admin.workflow_service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period={"seconds": 86400})
        )
        # the worker registers the search attributes itself, then polls
        await asyncio.to_thread(processes.wait_for, proc, "worker started")

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
        assert await asyncio.to_thread(processes.stop, proc) == 0, processes.log_of(proc)


def test_worker_stops_promptly_while_it_waits(server_env: dict[str, str], processes: Processes) -> None:
    proc = spawn_worker(processes, server_env, f"never-{uuid.uuid4().hex[:8]}")
    began = time.monotonic()
    assert processes.stop(proc) == 0, processes.log_of(proc)
    assert time.monotonic() - began < 5, "a worker waiting for its namespace must stop on SIGTERM at once"
    assert "worker started" not in processes.log_of(proc)


async def test_worker_waits_for_an_operator_when_an_attribute_has_another_type(
    temporal_address: str, server_env: dict[str, str], processes: Processes
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
    proc = await asyncio.to_thread(spawn_worker, processes, server_env, namespace)
    await asyncio.to_thread(processes.wait_for, proc, "registered with another type: waits for an operator")
    assert "ComplaintStage: INT, not KEYWORD" in processes.log_of(proc)
    assert "worker started" not in processes.log_of(proc)
    assert await asyncio.to_thread(processes.stop, proc) == 0, processes.log_of(proc)
