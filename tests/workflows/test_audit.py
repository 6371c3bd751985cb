"""The audit trail: each action says who did it, in which role, through which door and when; nothing edits it."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment
from workflow_support import TEST_KEY_RING, eventually

from complaints.cli import run
from domain.actions import Action, ActionRequest, Door, Role
from domain.models import EscalationLevel, Stage
from starter.client import ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


async def test_every_door_is_recorded_and_the_timeline_cannot_be_edited(
    intake: Any,
    complaints: ComplaintClient,
    time_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = await complaints.start(intake(taken_by="agent.intake"))
    cid = started.complaint_id

    # timer: nobody answered within 24 hours
    await time_env.sleep(timedelta(hours=25))
    await eventually(complaints, cid, lambda s: s.escalation_level is EscalationLevel.SUPERVISOR)

    # web: the web form acts through the same client, naming its door
    await complaints.act(cid, Action.ACKNOWLEDGE, actor="agent.web", role=Role.AGENT, door=Door.WEB)

    # command line: the real `complaints act`, as a service runs it
    for name in ("TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "COMPLAINTS_KEY_FILE", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", complaints.client.service_client.config.target_host)
    monkeypatch.setenv("COMPLAINTS_ENCRYPTION_KEYS", TEST_KEY_RING.to_spec())
    monkeypatch.setenv("COMPLAINTS_TASK_QUEUE", complaints.task_queue)
    monkeypatch.setenv("COMPLAINTS_DATA_DIR", str(tmp_path))
    data = json.dumps({"text": "gọi lại cho khách"})
    args = ["act", cid, "add_note", "--actor", "agent.cli", "--role", "agent", "--data", data]
    status = await asyncio.to_thread(run, args)
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.splitlines()  # the worker's log lines share this process's stdout: take the JSON object
    printed = json.loads("\n".join(lines[lines.index("{") : lines.index("}") + 1]))
    assert printed["stage"] == Stage.ANALYSING.value and printed["complaint_id"] == cid

    # SDK: a service calling the typed client
    await complaints.act(
        cid,
        Action.TRANSFER,
        actor="hotline.app",
        role=Role.AGENT,
        data={"to_department": "technical", "reason": "lỗi mạng"},
    )

    # signal: fire-and-forget from a service; the workflow marks the door itself
    await complaints.signal(
        cid,
        Action.CAUSE_IDENTIFIED,
        ActionRequest(
            request_id="noc-1",
            actor="noc",
            role=Role.SYSTEM,
            door=Door.SDK,
            data={"cause": "switch hỏng", "company_at_fault": False},
        ),
    )
    state = await eventually(complaints, cid, lambda s: s.stage is Stage.CAUSE_IDENTIFIED)

    expected = [
        ("received", "agent.intake", "agent", "intake"),
        ("first_response_reminded", "clock", "system", "timer"),
        ("first_response_escalated", "clock", "system", "timer"),
        ("acknowledge", "agent.web", "agent", "web"),
        ("add_note", "agent.cli", "agent", "cli"),
        ("transfer", "hotline.app", "agent", "sdk"),
        ("cause_identified", "noc", "system", "signal"),
    ]
    assert [(e.kind, e.actor, e.role, e.door) for e in state.timeline] == expected
    rows = await pool.fetch(
        "SELECT kind, actor, role, door, at, seq FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", cid
    )
    assert [(r["kind"], r["actor"], r["role"], r["door"]) for r in rows] == expected
    assert [r["at"] for r in rows] == [e.at for e in state.timeline]
    assert all(r["at"].tzinfo is not None for r in rows)
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)

    async with pool.acquire() as conn:
        for statement in (
            "UPDATE complaint_events SET actor = 'someone else' WHERE complaint_id = $1",
            "UPDATE complaint_events SET door = 'web', at = now() WHERE complaint_id = $1 AND kind = 'add_note'",
            "DELETE FROM complaint_events WHERE complaint_id = $1 AND kind = 'first_response_escalated'",
        ):
            with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
                await conn.execute(statement, cid)
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            await conn.execute("TRUNCATE complaint_events CASCADE")
    unchanged = await pool.fetch(
        "SELECT kind, actor, role, door, at, seq FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", cid
    )
    assert unchanged == rows
    # and no door offers an edit: the actions are the lifecycle's, none of them rewrites an event
    assert not [action for action in Action if "edit" in action.value or "delete" in action.value]
