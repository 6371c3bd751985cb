"""Fault drill (issue 5, "Faults" 3): PostgreSQL stopped while the record activities run, then started again.

A private PostgreSQL (never the session's shared one), a Temporal dev server, a `complaints worker` subprocess and
the web form. Complaints are driven through their lifecycle; a third of the way in PostgreSQL is stopped with
`pg_ctl stop -m fast`. While it is down:
- the actions in flight and the ones sent after wait (an update returns only once its record is written), and so
  do complaints started meanwhile; impatient callers re-send the same request; nothing fails;
- every complaint's record activity (a local activity, so the worker's log says each failed try) is retried with
  backoff (attempt 2, then 3, ..., each wait at least as long as the retry policy's), failing with a connection
  error, and no workflow has failed;
- the web form answers "records temporarily unavailable" (503, Retry-After) on the inbox, a complaint page and the
  intake submit, while `/metrics` and `/healthz` answer as always;
- `complaints list` exits 3 saying PostgreSQL is unreachable; `complaints show` still answers (it asks Temporal).
Then PostgreSQL starts again on the same data directory: every action completes, every complaint's snapshot and
timeline in PostgreSQL say what its workflow says, each event once, and the web form serves pages again.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import re
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fault_support import LIFECYCLE, Workers, eventually, local_activity_marker, retrying
from postgres_support import StoppablePostgres, stoppable_postgres
from pydantic import SecretStr
from samples import COMPLAINTS, clean_env, make_intake
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from complaints.temporal_server import free_port, temporal_dev_server
from domain.models import ComplaintState, Stage
from starter.client import ComplaintClient, workflow_id_for
from starter.codec import KeyRing
from starter.connection import connect_temporal
from web.commands import run_web
from web.settings import RETRY_AFTER_SECONDS, WebSettings
from web.users import DEV_PASSWORD
from workflows.complaint import RECORD_RETRY

pytestmark = [pytest.mark.faults, pytest.mark.temporal, pytest.mark.postgres]

N_COMPLAINTS = 12
N_STARTED_DURING_OUTAGE = 2
MIN_OUTAGE_SECONDS = 10.0
"""PostgreSQL stays down at least this long (and until every check below has seen the outage): with RECORD_RETRY's
1 s initial interval and factor 2, an activity fails at 0, 1, 3 and 7 s and is retried again at 15 s."""
FAILED_TRY = re.compile(r"Completing activity as failed \((\{.*\})\)")
"""The SDK's warning for each failed activity attempt, with the activity's info."""
PHASE_TIMEOUT = 60.0
"""Safety limit on each wait; the drill takes well under a minute on a 2-core machine."""

OUTAGE_ERRORS = frozenset(
    {
        "FileNotFoundError",  # the unix socket is gone
        "ConnectionRefusedError",
        "ConnectionResetError",
        "CannotConnectNowError",  # "the database system is shutting down"
        "AdminShutdownError",  # our session ended by `pg_ctl stop -m fast`
        "ConnectionDoesNotExistError",  # the connection closed in the middle of a query
        "InterfaceError",  # "cannot perform operation: connection is closed"
        "InternalClientError",  # the pool resetting a connection the server cut in the middle of a query
    }
)
"""What a record activity may fail with while PostgreSQL is away: connection errors, never a bug."""
UNAVAILABLE_VI = "Tạm thời không truy cập được hồ sơ"
METRICS_TOKEN = "metrics-token-for-the-outage-drill"
CUSTOMER = {"name": "Trần Thị Bích", "phone": "0912345678", "email": "bich@example.vn"}
"""`make_intake`'s customer: never in a log line, down or not."""


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, username: str) -> None:
    page = await browser.get("/login")
    response = await browser.post(
        "/login", data={"csrf_token": csrf_of(page.text), "username": username, "password": DEV_PASSWORD}
    )
    assert response.status_code == 303, response.text


def intake_form() -> dict[str, str]:
    """What an agent types for a complaint by phone."""
    return {
        "channel": "phone",
        "customer.name": CUSTOMER["name"],
        "customer.phone": CUSTOMER["phone"],
        "subject": "Hóa đơn tháng 10 bị tính hai lần",
        "description": "Khách hàng gọi lên báo hóa đơn tháng 10 bị trừ tiền hai lần.",
        "service": "Internet cáp quang",
        "department": "customer_care",
        "complaint_key": uuid.uuid4().hex,
    }


async def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`complaints ARGS` in a clean environment (off the event loop: the drivers keep going meanwhile)."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(COMPLAINTS), *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=PHASE_TIMEOUT,
    )


@dataclass(frozen=True)
class FailedTry:
    """One failed attempt of a record activity, as the worker logged it."""

    workflow_id: str
    attempt: int
    error: str
    at: datetime


def failed_tries(log_dir: Path) -> list[FailedTry]:
    """Every failed record-activity attempt the workers have logged so far, in order (a local activity is not
    among a workflow's pending activities: the worker's log is where its retries show)."""
    found = []
    for log in sorted(log_dir.glob("worker-*.log")):
        for line in log.read_text().splitlines():
            if not (match := FAILED_TRY.search(line)):
                continue
            entry, info = json.loads(line), ast.literal_eval(match.group(1))
            raised = entry["exception"].strip().splitlines()[-1].split(":", 1)[0]
            found.append(
                FailedTry(
                    info["workflow_id"],
                    info["attempt"],
                    raised.rsplit(".", 1)[-1],
                    datetime.fromisoformat(entry["timestamp"]),
                )
            )
    return sorted(found, key=lambda t: t.at)


def backoff_before(attempt: int) -> float:
    """RECORD_RETRY's wait before `attempt` (the second attempt waits the initial interval)."""
    wait = RECORD_RETRY.initial_interval.total_seconds() * RECORD_RETRY.backoff_coefficient ** (attempt - 2)
    assert RECORD_RETRY.maximum_interval is not None
    return min(wait, RECORD_RETRY.maximum_interval.total_seconds())


async def assert_record_matches(conn: asyncpg.Connection[Any], state: ComplaintState) -> None:
    """The snapshot and the timeline in PostgreSQL say what the workflow says, each event exactly once."""
    row = await conn.fetchrow(
        "SELECT stage, last_seq, case_number, state FROM complaints WHERE complaint_id = $1", state.complaint_id
    )
    assert row is not None, f"{state.complaint_id}: no record"
    assert (row["stage"], row["last_seq"], row["case_number"]) == (
        state.stage.value,
        state.last_seq,
        state.case_number,
    )
    assert ComplaintState.model_validate(json.loads(row["state"])) == state.without_history()
    events = await conn.fetch(
        "SELECT seq, kind FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", state.complaint_id
    )
    assert [e["seq"] for e in events] == list(range(1, state.last_seq + 1)), "each event recorded exactly once"
    assert [e["kind"] for e in events][-len(state.timeline) :] == [e.kind for e in state.timeline]


async def test_postgres_stopped_while_activities_run(tmp_path: Path, key_ring: KeyRing) -> None:
    (tmp_path / "no-dev-stack").mkdir()
    web_port = free_port()
    async with (
        stoppable_postgres(tmp_path / "postgres") as postgres,
        temporal_dev_server(tmp_path / "temporal", free_port(), free_port()) as address,
    ):
        dsn = await postgres.database("complaints")
        workers = Workers(dsn, key_ring, tmp_path)
        stop_web = asyncio.Event()
        web: asyncio.Task[None] | None = None
        spawned: list[asyncio.Task[Any]] = []
        try:
            await asyncio.to_thread(workers.start, address)
            client = await connect_temporal(address, key_ring=key_ring)
            web_ready = asyncio.Event()
            web = asyncio.create_task(
                run_web(
                    dsn,
                    client,
                    stop_web,
                    port=web_port,
                    web_settings=WebSettings(
                        data_dir=tmp_path / "web", session_secret=None, metrics_token=SecretStr(METRICS_TOKEN)
                    ),
                    dev_accounts=True,
                    ready=web_ready,
                )
            )
            await asyncio.wait_for(web_ready.wait(), PHASE_TIMEOUT)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}", timeout=PHASE_TIMEOUT) as browser:
                await drill(postgres, dsn, address, key_ring, client, browser, spawned, tmp_path)
        finally:
            for task in spawned:  # a failed drill leaves no caller retrying into the next test
                task.cancel()
            await asyncio.gather(*spawned, return_exceptions=True)
            stop_web.set()
            if web is not None:
                await asyncio.wait({web}, timeout=15)
            await asyncio.to_thread(workers.stop_all)
    log = await asyncio.to_thread(lambda: "\n".join(f.read_text() for f in sorted(tmp_path.glob("worker-*.log"))))
    failed_attempts = [line for line in log.splitlines() if "Completing activity as failed" in line]
    print(f"the worker logged {len(failed_attempts)} failed activity attempts")
    assert failed_attempts, "the worker logged no failed activity attempt"
    for value in CUSTOMER.values():
        assert value not in log, "personal data in the worker's log"


async def drill(
    postgres: StoppablePostgres,
    dsn: str,
    address: str,
    key_ring: KeyRing,
    client: Client,
    browser: httpx.AsyncClient,
    spawned: list[asyncio.Task[Any]],
    log_dir: Path,
) -> None:
    """The drill itself; every task it starts goes into `spawned`, for the caller to cancel should it fail. The
    workers write their logs into `log_dir`."""
    complaints = ComplaintClient(client)
    env = {"TEMPORAL_ADDRESS": address, "COMPLAINTS_ENCRYPTION_KEYS": key_ring.to_spec()}
    ids = [f"pgdown-{uuid.uuid4().hex[:12]}" for _ in range(N_COMPLAINTS)]
    late_ids = [f"pgdown-late-{uuid.uuid4().hex[:8]}" for _ in range(N_STARTED_DURING_OUTAGE)]
    total_actions = N_COMPLAINTS * len(LIFECYCLE)
    done = 0
    a_third_done = asyncio.Event()
    answers: dict[str, ComplaintState] = {}
    """Each request id's answer, to compare with what the same request re-sent gets."""
    current: dict[str, functools.partial[Any]] = {}
    """Each unfinished driver's call in flight."""

    async def drive(cid: str) -> ComplaintState:
        nonlocal done
        state: ComplaintState = await retrying(f"start {cid}", lambda: complaints.start(make_intake(complaint_id=cid)))
        for step, (action, (role, actor), data) in enumerate(LIFECYCLE):
            request_id = f"{cid}-{step}"
            call = current[cid] = functools.partial(
                complaints.act, cid, action, actor=actor, role=role, data=data, request_id=request_id
            )
            state = answers[request_id] = await retrying(f"{action.value} on {cid}", call)
            done += 1
            if done >= total_actions // 3:
                a_third_done.set()
        del current[cid]
        return state

    # ---- before: signed in on the web form, complaints on their way ----
    await sign_in(browser, "agent")
    new_page = await browser.get("/complaints/new")
    assert new_page.status_code == 200
    drivers = [asyncio.create_task(drive(cid)) for cid in ids]
    spawned += drivers
    await asyncio.wait_for(a_third_done.wait(), PHASE_TIMEOUT)

    # ---- PostgreSQL stops while actions are in flight ----
    stopped_at, outage_began = time.monotonic(), datetime.now(UTC)
    await postgres.stop()
    in_flight = dict(current)
    print(f"PostgreSQL stopped after {done} of {total_actions} actions, {len(in_flight)} in flight")
    assert len(in_flight) >= N_COMPLAINTS // 2, "the outage came too late to matter"
    # Callers keep going: complaints taken in, and impatient clients re-sending what they already sent.
    late_starts = [
        asyncio.create_task(
            retrying(f"start {cid}", functools.partial(complaints.start, make_intake(complaint_id=cid)))
        )
        for cid in late_ids
    ]
    resent = [asyncio.create_task(retrying(f"re-sent {cid}", call)) for cid, call in in_flight.items()]
    spawned += late_starts + resent

    # The web form says so plainly; what needs no records still answers.
    for path in ("/", f"/complaints/{ids[0]}"):
        page = await browser.get(path)
        assert page.status_code == 503, page.text
        assert page.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert UNAVAILABLE_VI in page.text and "Traceback" not in page.text
    english = await browser.get("/?lang=en")
    assert english.status_code == 503 and "Records temporarily unavailable" in english.text
    await browser.get("/?lang=vi")
    intake = await browser.post("/complaints/new", data={"csrf_token": csrf_of(new_page.text), **intake_form()})
    assert intake.status_code == 503 and "Biểu mẫu của bạn chưa được gửi" in intake.text
    assert (await browser.get("/healthz")).text == "ok"
    metrics = await browser.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert 'complaints_web_requests_total{method="POST",route="/complaints/new",status="503"} 1.0' in metrics.text

    # The command line: `list` reads PostgreSQL and says it cannot; `show` asks Temporal and still answers.
    listed = await run_cli("list", DATABASE_URL=dsn, **env)
    assert listed.returncode == 3, listed.stderr
    assert "cannot reach PostgreSQL" in listed.stderr and "Traceback" not in listed.stderr
    shown = await run_cli("show", ids[0], **env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["complaint_id"] == ids[0]

    # Every waiting complaint's record activity is retried with backoff, failing on the connection only.
    waiting: list[str] = []

    async def all_retried() -> list[FailedTry] | None:
        waiting[:] = [cid for cid in ids if cid in current] + late_ids
        tries = [t for t in await asyncio.to_thread(failed_tries, log_dir) if t.at >= outage_began]
        by_complaint = {
            workflow_id_for(cid): [t for t in tries if t.workflow_id == workflow_id_for(cid)] for cid in waiting
        }
        if not all(any(t.attempt >= 2 for t in mine) for mine in by_complaint.values()):
            return None
        return tries if max(t.attempt for t in tries) >= 3 else None

    seen = await eventually(all_retried, PHASE_TIMEOUT, "every waiting complaint's record activity retried")
    failures = Counter(t.error for t in seen)
    print(f"{len(waiting)} complaints waiting; attempts {sorted(t.attempt for t in seen)}; failures {dict(failures)}")
    assert set(failures) <= OUTAGE_ERRORS, failures
    for workflow_id in {t.workflow_id for t in seen}:
        mine = {t.attempt: t.at for t in seen if t.workflow_id == workflow_id}  # a later run's try counts once
        for attempt in sorted(mine):
            if attempt - 1 in mine:
                waited = (mine[attempt] - mine[attempt - 1]).total_seconds()
                assert waited >= 0.9 * backoff_before(attempt), f"{workflow_id}: attempt {attempt} after {waited:.2f}s"
    for cid in waiting:
        status = (await client.get_workflow_handle(workflow_id_for(cid)).describe()).status
        assert status is WorkflowExecutionStatus.RUNNING, f"{cid}: {status}"
    assert not any(task.done() for task in late_starts), "a complaint was registered while PostgreSQL was down"
    await asyncio.sleep(max(0.0, MIN_OUTAGE_SECONDS - (time.monotonic() - stopped_at)))

    # ---- PostgreSQL is back: everything completes, and is written once ----
    await postgres.start()
    print(f"PostgreSQL started again after {time.monotonic() - stopped_at:.1f}s down")
    finals: list[ComplaintState] = await asyncio.wait_for(asyncio.gather(*drivers), 2 * PHASE_TIMEOUT)
    late_states: list[ComplaintState] = await asyncio.wait_for(asyncio.gather(*late_starts), PHASE_TIMEOUT)
    for (cid, call), again in zip(in_flight.items(), await asyncio.gather(*resent), strict=True):
        assert again.last_seq == answers[call.keywords["request_id"]].last_seq, f"{cid}: a re-sent request applied"
    print(f"every action answered {time.monotonic() - stopped_at:.1f}s after the stop")
    assert all(state.stage is Stage.CLOSED for state in finals)
    assert all(state.case_number for state in late_states)

    conn = await asyncpg.connect(dsn)
    try:
        for cid in ids + late_ids:
            await assert_record_matches(conn, await complaints.state(cid))
        assert await conn.fetchval("SELECT count(DISTINCT case_number) FROM complaints") == len(ids + late_ids)
    finally:
        await conn.close()

    retried: set[str] = set()
    for cid in ids + late_ids:
        handle = client.get_workflow_handle(workflow_id_for(cid))
        status = (await handle.describe()).status
        assert status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED), f"{cid}: {status}"
        history = await handle.fetch_history()
        kinds = [event.event_type for event in history.events]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds, f"{cid}: a workflow task failed"
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED not in kinds, f"{cid}: an activity failed for good"
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT not in kinds, f"{cid}: an activity timed out for good"
        markers = [marker for event in history.events if (marker := local_activity_marker(event))]
        assert not any(marker.failed_for_good for marker in markers), f"{cid}: a record write failed for good"
        if any(marker.attempt > 1 for marker in markers):
            retried.add(cid)
    assert set(waiting) <= retried, "the history shows no retried record activity for a complaint that waited"

    # The web form is back by itself: its pool reconnects on the next request.
    inbox = await browser.get("/")
    assert inbox.status_code == 200, inbox.text
    page = await browser.get(f"/complaints/{ids[0]}")
    assert page.status_code == 200 and UNAVAILABLE_VI not in page.text
