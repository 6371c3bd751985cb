"""What Temporal holds is ciphertext: read without the codec, a complaint's history, metadata, memo, failures and
query answers name nobody; read with it, everything is there. Keys rotate under complaints in flight."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, QueryWorkflowRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from workflow_support import (
    PERSONAL,
    TEST_DATA_CONVERTER,
    TEST_KEY_RING,
    StumblingRecords,
    client_with,
    payloads_in,
)

from domain.actions import Action, ActionRequest, Role
from domain.calendar import WorkingCalendar
from domain.intake import Intake
from domain.models import ComplaintInput, EscalationLevel, Stage
from starter.client import ActionFailed, ComplaintClient, workflow_id_for
from starter.codec import ENCODING, KEY_ID, EncryptionCodec, EncryptionKey, KeyRing, PayloadDecryptionError
from starter.settings import Settings
from worker import build_worker

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
CODEC = EncryptionCodec(TEST_KEY_RING)


async def history_events(client: Client, complaint_id: str) -> list[HistoryEvent]:
    return list((await client.get_workflow_handle(workflow_id_for(complaint_id)).fetch_history()).events)


def raw_bytes(events: list[HistoryEvent]) -> bytes:
    return b"".join(event.SerializeToString() for event in events)


async def decoded_bytes(codec: EncryptionCodec, payloads: list[Payload]) -> bytes:
    return b"".join(payload.SerializeToString() for payload in await codec.decode(payloads))


def assert_all_encrypted(payloads: list[Payload], key_ids: set[str] | None = None) -> None:
    assert payloads
    for payload in payloads:
        assert payload.metadata["encoding"] == ENCODING, payload.metadata
    if key_ids is not None:
        assert {payload.metadata[KEY_ID].decode() for payload in payloads} == key_ids


async def eventually(check: Any, tries: int = 100) -> Any:
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("never reached")


@pytest.fixture(scope="module")
async def stumbling(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> AsyncIterator[tuple[ComplaintClient, StumblingRecords]]:
    """A worker whose first attempt at recording each note fails with the customer's contacts in the error."""
    records = StumblingRecords(pool, WorkingCalendar())
    settings = Settings(task_queue=f"stumbling-{uuid.uuid4().hex[:8]}")
    async with build_worker(time_env.client, records, settings):
        yield ComplaintClient(time_env.client, settings.task_queue), records


async def test_history_without_the_codec_names_nobody_and_with_it_everything(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    await complaints.act(
        cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["documents"], "message": "Xin gửi ảnh chụp lỗi"}
    )
    await complaints.signal(
        cid,
        Action.CUSTOMER_INFO_RECEIVED,
        ActionRequest(request_id="mail-1", actor="email-ingest", role=Role.SYSTEM, data={"summary": "ảnh"}),
    )
    await eventually(lambda: _stage_is(complaints, cid, Stage.ANALYSING))

    raw = client_with(time_env, None)
    events = await history_events(raw, cid)
    everything = raw_bytes(events)
    for personal in PERSONAL:
        assert personal.encode() not in everything, personal
    assert "Xin gửi ảnh chụp lỗi".encode() not in everything  # an agent's words to the customer too
    payloads = [payload for event in events for payload in payloads_in(event)]
    assert_all_encrypted(payloads, {"test-1"})
    kinds = {event.event_type for event in events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED in kinds
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in kinds

    plain = await decoded_bytes(CODEC, payloads)
    for personal in PERSONAL:
        assert personal.encode() in plain, personal

    # user metadata: the static summary on the start event, encrypted like the rest
    summary = events[0].user_metadata.summary
    assert summary.metadata["encoding"] == ENCODING
    assert b"Complaint by email to customer_care" in await decoded_bytes(CODEC, [summary])
    described = await complaints.handle(cid).describe()
    assert await described.static_summary() == "Complaint by email to customer_care"

    # current details are not in history: the UI asks for them with a query, whose answer is encrypted
    answer = await raw.workflow_service.query_workflow(
        QueryWorkflowRequest(
            namespace=raw.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id_for(cid)),
            query=WorkflowQuery(query_type="__temporal_workflow_metadata"),
        )
    )
    assert_all_encrypted(list(answer.query_result.payloads))
    assert started.case_number.encode() not in answer.query_result.SerializeToString()
    assert started.case_number.encode() in await decoded_bytes(CODEC, list(answer.query_result.payloads))


async def _stage_is(complaints: ComplaintClient, cid: str, stage: Stage) -> bool:
    return (await complaints.state(cid)).stage is stage


async def test_memo_and_user_metadata_are_encrypted(complaints: ComplaintClient, time_env: WorkflowEnvironment) -> None:
    """Nothing sets a memo today; should anything ever put a person there, it is encrypted too."""
    name, phone, email, description = PERSONAL
    intake = Intake.model_validate(
        {"customer": {"name": name, "phone": phone}, "channel": "phone", "subject": "s", "description": description}
    )
    complaint_id = uuid.uuid4().hex
    handle = await complaints.client.start_workflow(
        "ComplaintWorkflow",
        ComplaintInput(complaint_id=complaint_id, intake=intake),
        id=workflow_id_for(complaint_id),
        task_queue=complaints.task_queue,
        memo={"contact": email},
        static_summary=name,
        static_details=phone,
    )
    await handle.execute_update("registered")  # a complaint like any other from here on
    raw = client_with(time_env, None)
    described = await raw.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=raw.namespace, execution=WorkflowExecution(workflow_id=handle.id))
    )
    shown = described.SerializeToString()
    for personal in PERSONAL:
        assert personal.encode() not in shown
    assert_all_encrypted(list(payloads_in(described)), {"test-1"})
    mine = await handle.describe()
    assert await mine.memo_value("contact") == email
    assert (await mine.static_summary(), await mine.static_details()) == (name, phone)


class SealOnly(EncryptionCodec):
    """Encrypts like a key holder, but reads nothing back (every payload it receives reads as null: a failure's
    encrypted attributes and details included), so a test sees the failure as it travelled on the wire."""

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": b"binary/null"}) for _ in payloads]


async def test_a_refused_action_is_not_clear_text(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    started = await complaints.start(intake())
    cid = started.complaint_id
    raw = client_with(time_env, None)
    sealing = Client(  # seals what it sends, as a key holder must, but leaves what comes back as it came
        raw.service_client,
        namespace=raw.namespace,
        data_converter=dataclasses.replace(TEST_DATA_CONVERTER, payload_codec=SealOnly(TEST_KEY_RING)),
    )

    # refused by the validator: the answer on the wire carries the reason encrypted
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await sealing.get_workflow_handle(workflow_id_for(cid)).execute_update(
            "close",
            {
                "request_id": "r-1",
                "actor": "agent.lan",
                "role": "agent",
                "data": {"summary": "s", "lessons_learned": "l"},
            },
        )
    assert isinstance(refused.value.cause, ApplicationError)
    assert "not allowed" not in refused.value.cause.message
    assert refused.value.cause.message == "Encoded failure"
    with pytest.raises(ActionFailed, match="close is not allowed while the complaint is received"):
        await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "s", "lessons_learned": "l"})

    # refused by the handler, after the update was accepted: the failure is in history, encrypted
    unknown = uuid.uuid4().hex
    with pytest.raises(ActionFailed, match="is not open"):
        await complaints.act(cid, Action.MERGE_INTO, **AGENT, data={"primary_complaint_id": unknown})
    events = await history_events(raw, cid)
    assert b"is not open (unknown or ended)" not in raw_bytes(events)
    completed = [
        event.workflow_execution_update_completed_event_attributes
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    ]
    failures = [done.outcome.failure for done in completed if done.outcome.HasField("failure")]
    assert [f.message for f in failures] == ["Encoded failure"]
    assert failures[0].stack_trace == ""
    assert b"is not open (unknown or ended)" in await decoded_bytes(CODEC, [failures[0].encoded_attributes])


async def test_an_activity_failure_is_not_clear_text(
    intake: Any, stumbling: tuple[ComplaintClient, StumblingRecords], time_env: WorkflowEnvironment
) -> None:
    """The record work is a local activity: its failed attempts are retried in the worker and never reach Temporal;
    one that fails for good is written into the history's marker, and that failure is ciphertext."""
    complaints, records = stumbling
    cid = (await complaints.start(intake())).complaint_id
    raw = client_with(time_env, None)
    records.give_up = True
    try:
        with pytest.raises(ActionFailed):
            await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "gọi lại"})
    finally:
        records.give_up = False
    events = await history_events(raw, cid)
    failures = [
        event.marker_recorded_event_attributes.failure
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.HasField("failure")
    ]
    assert len(failures) == 1, "the failed record write is in the history once"
    failure = failures[0]
    assert (failure.message, failure.stack_trace) == ("Encoded failure", "")
    assert b"bich@example.vn" not in raw_bytes(events)
    revealed = await decoded_bytes(CODEC, [failure.encoded_attributes])
    assert b"could not store the note for bich@example.vn" in revealed
    assert b"_persist" in revealed  # the stack trace went into the ciphertext too
    state = await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "gọi lại"})  # retried: recorded
    assert state.last_seq == 2 and (await complaints.state(cid)).timeline[-1].kind == "add_note"


async def test_keys_rotate_under_complaints_in_flight(
    intake: Any, time_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    key_a, key_b = EncryptionKey.generate("key-a"), EncryptionKey.generate("key-b")
    ring_a, ring_ab = KeyRing([key_a]), KeyRing([key_a, key_b])
    settings = Settings(task_queue=f"rotation-{uuid.uuid4().hex[:8]}")
    records = StumblingRecords(pool, WorkingCalendar())

    old = ComplaintClient(client_with(time_env, ring_a), settings.task_queue)
    # no sticky cache: the time-skipping server would keep routing queries to the stopped worker's sticky queue
    async with build_worker(old.client, records, settings.model_copy(update={"max_cached_workflows": 0})):
        acted = (await old.start(intake())).complaint_id
        waiting = (await old.start(intake())).complaint_id  # nobody answers: its 24-hour clock is running
        await old.act(acted, Action.ACKNOWLEDGE, **AGENT)

    new = ComplaintClient(client_with(time_env, ring_ab), settings.task_queue)
    async with build_worker(new.client, records, settings):  # a fresh worker: replays histories written under A
        assert (await new.state(acted)).stage is Stage.ANALYSING
        state = await new.act(acted, Action.REQUEST_INFO, **AGENT, data={"missing": ["phone"], "message": "m"})
        assert state.stage is Stage.AWAITING_CUSTOMER and state.intake.customer.name == PERSONAL[0]
        await time_env.sleep(timedelta(hours=25))
        escalated = await eventually(lambda: _escalated(new, waiting))
        assert escalated.first_response_breached

    raw = client_with(time_env, None)
    for cid in (acted, waiting):
        payloads = [payload for event in await history_events(raw, cid) for payload in payloads_in(event)]
        assert_all_encrypted(payloads, {"key-a", "key-b"})  # written before and after the rotation
        plain = await decoded_bytes(EncryptionCodec(ring_ab), payloads)
        assert PERSONAL[0].encode() in plain
        with pytest.raises(PayloadDecryptionError, match="key-a"):
            [EncryptionCodec(KeyRing([key_b])).decrypt(payload) for payload in payloads]


async def _escalated(complaints: ComplaintClient, cid: str) -> Any:
    state = await complaints.state(cid)
    return state if state.escalation_level is EscalationLevel.SUPERVISOR else None
