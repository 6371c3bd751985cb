"""An activity's last failure as the real dev server keeps it: over 4 KiB the server swaps it for a bare
`ServerError` ("failure exceeds size limit"), and the Web UI no longer says why the activity is being retried.
The complaints' failure converter keeps a PostgreSQL outage's failure under that limit, root cause included."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError, ServerError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from starter.codec import EncryptionKey, KeyRing, complaints_data_converter

pytestmark = pytest.mark.temporal


def nested(depth: int) -> None:
    if depth == 0:
        raise FileNotFoundError(2, "No such file or directory", "/run/postgresql/.s.PGSQL.5432")
    nested(depth - 1)


@activity.defn
async def write_record() -> None:
    """Fails as an outage does: a deep connection stack under a chain of causes."""
    try:
        nested(60)
    except FileNotFoundError as lost:
        try:
            raise ConnectionError("the database system is shutting down " + "ồ" * 1500) from lost
        except ConnectionError as shutting_down:
            raise ConnectionError("record not written: " + "ư" * 1500) from shutting_down


@workflow.defn(sandboxed=False)
class RecordingWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            write_record,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0),
        )


async def last_failure_kept(address: str, converter: DataConverter) -> BaseException:
    """The last failure of the retried activity, as `describe` returns it and the converter reads it."""
    client = await Client.connect(address, data_converter=converter)
    queue = f"failure-size-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RecordingWorkflow],
        activities=[write_record],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(RecordingWorkflow.run, id=queue, task_queue=queue)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                pending = (await handle.describe()).raw_description.pending_activities
                if pending and pending[0].attempt >= 2 and pending[0].HasField("last_failure"):
                    return await client.data_converter.decode_failure(pending[0].last_failure)
                await asyncio.sleep(0.2)
            raise AssertionError("the activity was not retried within 30 s")
        finally:
            await handle.terminate("test over")


async def test_an_outage_failure_is_kept_with_its_reason(temporal_address: str) -> None:
    kept = await last_failure_kept(temporal_address, complaints_data_converter(KeyRing([EncryptionKey.generate("k")])))
    assert isinstance(kept, ApplicationError) and kept.type == "ConnectionError", repr(kept)
    assert kept.message.startswith("record not written")
    root = kept.__cause__
    while root is not None and root.__cause__ is not None:
        root = root.__cause__
    assert isinstance(root, ApplicationError) and root.type == "FileNotFoundError"


async def test_without_the_budget_the_server_keeps_no_reason(temporal_address: str) -> None:
    """The control: the SDK's own converter, attributes encoded the same way, loses the reason on this server."""
    unbounded = dataclasses.replace(
        complaints_data_converter(KeyRing([EncryptionKey.generate("k")])),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    kept = await last_failure_kept(temporal_address, unbounded)
    assert isinstance(kept, ServerError), repr(kept)
