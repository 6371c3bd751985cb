"""What the fault drills share: `complaints worker` processes to kill, a full lifecycle to drive, and waiting that
survives a worker (or server) that is not there for a while."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from dev_process import Processes
from samples import COMPLAINTS, clean_env
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from complaints.temporal_server import free_port
from domain.actions import Action, Role
from domain.models import ComplaintState
from starter.client import ActionFailed
from starter.codec import KeyRing

T = TypeVar("T")

LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""The marker Temporal's SDK core records for a finished local activity."""

ACTION_TIMEOUT = 120.0
"""Safety net for one call across a worker restart; far above the few seconds a handover takes."""

AGENT = (Role.AGENT, "agent.lan")
MANAGER = (Role.MANAGER, "manager.hung")
SYSTEM = (Role.SYSTEM, "noc")

LIFECYCLE: list[tuple[Action, tuple[Role, str], dict[str, Any]]] = [
    (Action.ACKNOWLEDGE, AGENT, {}),
    (Action.REQUEST_INFO, AGENT, {"missing": ["documents"], "message": "Xin gửi ảnh chụp hóa đơn"}),
    (Action.CUSTOMER_INFO_RECEIVED, SYSTEM, {"summary": "khách đã gửi ảnh"}),
    (Action.CAUSE_IDENTIFIED, SYSTEM, {"cause": "trừ tiền trùng", "company_at_fault": True, "departments": []}),
    (Action.PROPOSE_PLAN, AGENT, {"plan": "hoàn lại khoản trừ trùng"}),
    (Action.MANAGER_APPROVAL, MANAGER, {"approved": True, "comment": "đồng ý"}),
    (Action.SEND_RESOLUTION, AGENT, {"reply": "Đã hoàn tiền.", "channels": ["email"]}),
    (Action.CLOSE, AGENT, {"summary": "xong", "lessons_learned": "kiểm tra trùng"}),
]
"""A complaint from acknowledgement to close, every action allowed in turn."""

QUICK_HANDOVER = {"COMPLAINTS_STICKY_QUEUE_TIMEOUT_SECONDS": "5"}
"""For drills that kill workers (see `Settings.sticky_queue_timeout_seconds`): a complaint cached by a dead worker
goes to another after 5 s instead of Temporal's default 10 s. Not shorter: on a busy 2-core machine a live worker
often takes over 2 s to pick up its own tasks, and each such timeout costs a replay."""


async def retrying(what: str, call: Callable[[], Awaitable[T]], within: float = ACTION_TIMEOUT) -> T:
    """`call()` until it answers: an RPC error or a timeout while no worker (or no server) is there is retried with
    the same request (its id makes the retry safe); a refusal by the workflow is a real failure and is raised.

    An update call the SDK gave up on (`WorkflowUpdateRPCTimeoutOrCancelledError`: its long poll ran out while the
    complaint waited for a worker) may or may not have reached the workflow: the same update id settles it."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await asyncio.wait_for(call(), max(1.0, deadline - time.monotonic()))
        except ActionFailed:
            raise
        except (RPCError, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} got no answer within {within:.0f}s: {exc!r}") from exc
            await asyncio.sleep(0.5)


async def eventually(check: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """The first truthy answer of `check()`; `within` is a safety net, not a performance claim."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {within:.0f}s"
        await asyncio.sleep(0.5)


async def handover_waits(client: Client, workflow_ids: Iterable[str]) -> Counter[str]:
    """What the complaints waited for when their worker went away, read from their histories: workflow tasks that
    timed out on the sticky queue (schedule-to-start) or on the dead worker (start-to-close), and activities that
    needed another attempt (a lost attempt is only visible as the attempt number of the one that finished)."""
    found: Counter[str] = Counter()
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                kind = TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type)
                found[f"workflow task {kind.removeprefix('TIMEOUT_TYPE_').lower()} timeout"] += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                found["workflow task failed"] += 1
            elif (marker := local_activity_marker(event)) is not None and marker.attempt > 1:
                found["activity retried"] += 1
    return found


async def every_complaint_recorded_once(states: list[ComplaintState], database_url: str) -> None:
    """The records of the complaints whose workflows say `states`: each PostgreSQL snapshot catches up with its
    workflow, and its timeline events are the workflow's, each recorded once (none lost, none applied twice)."""
    ids = [s.complaint_id for s in states]
    expected = {s.complaint_id: (s.stage.value, s.last_seq) for s in states}
    conn = await asyncpg.connect(database_url)
    try:

        async def snapshots_caught_up() -> bool:
            rows = await conn.fetch(
                "SELECT complaint_id, stage, last_seq FROM complaints WHERE complaint_id = ANY($1)", ids
            )
            return {r["complaint_id"]: (r["stage"], r["last_seq"]) for r in rows} == expected

        await eventually(snapshots_caught_up, 60, "every Postgres snapshot matches its workflow")
        counts = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT (complaint_id, seq)) AS distinct_n"
            " FROM complaint_events WHERE complaint_id = ANY($1)",
            ids,
        )
        assert counts is not None
        assert counts["n"] == counts["distinct_n"] == sum(s.last_seq for s in states)
        rows = await conn.fetch(
            "SELECT complaint_id, kind FROM complaint_events WHERE complaint_id = ANY($1) ORDER BY complaint_id, seq",
            ids,
        )
        recorded: dict[str, list[str]] = {cid: [] for cid in ids}
        for row in rows:
            recorded[row["complaint_id"]].append(row["kind"])
        assert recorded == {s.complaint_id: [e.kind for e in s.timeline] for s in states}
    finally:
        await conn.close()


@dataclass(frozen=True)
class LocalActivityMarker:
    """What a local activity's marker says: the record work runs as local activities, which leave no activity
    events, only this marker once an attempt has finished for good or has failed and waits on a timer (backoff)."""

    activity_type: str
    attempt: int
    failed: bool
    backoff: bool

    @property
    def failed_for_good(self) -> bool:
        return self.failed and not self.backoff


def local_activity_marker(event: HistoryEvent) -> LocalActivityMarker | None:
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    data = json.loads(marker.details["data"].payloads[0].data)
    return LocalActivityMarker(
        data["activity_type"], data["attempt"], marker.HasField("failure"), bool(data.get("backoff"))
    )


class Workers(Processes):
    """Starts `complaints worker` processes (and any other product process, see `launch`) against one server and
    database; stops whatever is left at the end."""

    def __init__(self, database_url: str, key_ring: KeyRing, log_dir: Path) -> None:
        super().__init__(log_dir)
        self.database_url = database_url
        self.key_ring = key_ring

    def start(self, temporal_address: str, settings: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        """A new worker, once it says it polls (migrations done, connected); `settings` are more environment."""
        env = clean_env(
            TEMPORAL_ADDRESS=temporal_address,
            DATABASE_URL=self.database_url,
            COMPLAINTS_ENCRYPTION_KEYS=self.key_ring.to_spec(),
            COMPLAINTS_METRICS_ADDRESS=f"127.0.0.1:{free_port()}",
            COMPLAINTS_DATA_DIR=str(self.log_dir / "no-dev-stack"),
            **(settings or {}),
        )
        return self.launch([str(COMPLAINTS), "worker"], env)
