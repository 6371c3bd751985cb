"""Keys, raw views and a stumbling record-keeper for the workflow tests: what Temporal holds, read without the
codec, and every payload in it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator

import asyncpg
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.notifications import NotificationSettings
from activities.records import ComplaintRecords, Connection
from domain.calendar import WorkingCalendar
from domain.models import ComplaintState, Transition
from starter.client import ComplaintClient
from starter.codec import EncryptionKey, KeyRing, complaints_data_converter
from starter.settings import load_company_profile

TEST_KEY = EncryptionKey("test-1", base64.b64decode("dGhpcyBpcyB0aGUgdGVzdCBrZXkgb2YgMzIgYnl0ZXM="))
TEST_KEY_RING = KeyRing([TEST_KEY])
"""The key of the session's time-skipping environment (fixed, so a failing test's history can be read later)."""

TEST_DATA_CONVERTER = complaints_data_converter(TEST_KEY_RING)

PERSONAL = ("Trần Thị Bích", "0912345678", "bich@example.vn", "VPS của tôi không truy cập được từ 8 giờ sáng nay.")
"""The customer in `conftest.make_intake`: name, phone, e-mail, and their own words."""


def client_with(env: WorkflowEnvironment, ring: KeyRing | None) -> Client:
    """Another client on the same server and connection: with `ring`'s codec, or with no codec at all (`None`)."""
    base = env.client
    if ring is None:
        return Client(base.service_client, namespace=base.namespace)
    return Client(base.service_client, namespace=base.namespace, data_converter=complaints_data_converter(ring))


PLAIN_BY_DESIGN = frozenset({"search_attributes", "marker_recorded_event_attributes"})
"""Search attributes are indexed, so never encrypted; `workflow.patched` markers are written by the SDK's core
without the codec and hold only the patch id. Neither holds a person."""


def payloads_in(message: Message, skip: frozenset[str] = PLAIN_BY_DESIGN) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (history events, failures, user metadata, memo, headers),
    except under fields named in `skip`."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None or descriptor.name in skip:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    yield from payloads_in(item, skip)
        elif descriptor.is_repeated:
            for item in value:
                yield from payloads_in(item, skip)
        else:
            yield from payloads_in(value, skip)


class StumblingRecords(ComplaintRecords):
    """Fails the first attempt to record each `add_note` (every attempt while `hold` is set), with an error that
    quotes the customer's contacts, as a driver's error might quote a value: a retry records it. While `give_up`
    is set, the error is final (non-retryable): the activity fails for good, and its failure reaches Temporal."""

    def __init__(
        self, pool: asyncpg.Pool, calendar: WorkingCalendar, settings: NotificationSettings | None = None
    ) -> None:
        super().__init__(pool, calendar, settings or NotificationSettings(load_company_profile()))
        self.stumbled: set[tuple[str, int]] = set()
        self.hold = False
        self.give_up = False

    async def _persist(self, conn: Connection, workflow_id: str, transition: Transition) -> bool:
        state, event = transition.state, transition.event
        if event.kind == "add_note" and (self.hold or (state.complaint_id, event.seq) not in self.stumbled):
            self.stumbled.add((state.complaint_id, event.seq))
            customer = state.intake.customer
            message = f"could not store the note for {customer.email} / {customer.phone}"
            if self.give_up:
                raise ApplicationError(message, non_retryable=True)
            raise RuntimeError(message)
        return await super()._persist(conn, workflow_id, transition)


async def eventually(complaints: ComplaintClient, cid: str, check: Callable[[ComplaintState], bool]) -> ComplaintState:
    """Signals are fire-and-forget: wait (bounded) until the workflow has applied one."""
    for _ in range(100):
        state = await complaints.state(cid)
        if check(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached; last state {state.stage} {[e.kind for e in state.timeline]}")


async def assert_record_matches(pool: asyncpg.Pool, state: ComplaintState) -> None:
    """The Postgres snapshot and timeline say what the workflow says, each event exactly once."""
    row = await pool.fetchrow(
        "SELECT stage, department, cycle, last_seq, case_number, resolution_due, state FROM complaints"
        " WHERE complaint_id = $1",
        state.complaint_id,
    )
    assert row is not None
    assert row["stage"] == state.stage.value
    assert row["department"] == state.department
    assert row["cycle"] == state.cycle
    assert row["case_number"] == state.case_number
    assert row["last_seq"] == state.last_seq
    assert row["resolution_due"] == state.deadlines.resolution_due
    assert ComplaintState.model_validate(row["state"]) == state.without_history()
    kinds = [
        r["kind"]
        for r in await pool.fetch(
            "SELECT kind FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", state.complaint_id
        )
    ]
    assert len(kinds) == state.last_seq, "each event recorded exactly once"
    assert kinds[len(kinds) - len(state.timeline) :] == [e.kind for e in state.timeline]
