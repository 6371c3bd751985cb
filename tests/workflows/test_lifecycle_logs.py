"""A whole lifecycle with every log captured, structlog's and the standard library's (temporalio's included),
as the `complaints` processes configure them: no customer in any line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from workflow_support import PERSONAL, StumblingRecords

from domain.actions import Action, ActionRequest, Role
from domain.calendar import WorkingCalendar
from domain.models import Stage
from starter.client import ActionFailed, ComplaintClient
from starter.logs import configure_logging
from starter.settings import Settings
from worker import build_worker

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
MANAGER = {"actor": "manager.hung", "role": Role.MANAGER}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logs as `complaints worker` writes them (JSON lines), everything from DEBUG up, into a buffer."""
    saved_structlog = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(buffer, logging.DEBUG, library_level=logging.DEBUG, json=True)
    try:
        yield buffer
    finally:
        structlog.configure(**saved_structlog)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


async def test_a_lifecycle_logs_no_personal_data(
    intake: Any, complaints: ComplaintClient, pool: Any, captured: io.StringIO
) -> None:
    records = StumblingRecords(pool, WorkingCalendar())  # an activity error that quotes the customer's contacts
    settings = Settings(task_queue=complaints.task_queue + "-logs")
    async with build_worker(complaints.client, records, settings):
        complaints = ComplaintClient(complaints.client, settings.task_queue)
        cid = (await complaints.start(intake())).complaint_id
        await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
        await complaints.act(cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["phone"], "message": "Số khác?"})
        await complaints.signal(
            cid,
            Action.CUSTOMER_INFO_RECEIVED,
            ActionRequest(request_id="m-1", actor="email-ingest", role=Role.SYSTEM, data={"summary": "0987654321"}),
        )
        await complaints.signal(  # refused (wrong role): the workflow logs a warning with the reason
            cid,
            Action.MANAGER_APPROVAL,
            ActionRequest(request_id="x-1", actor="bot", role=Role.SYSTEM, data={"approved": True}),
        )
        with pytest.raises(ActionFailed):
            await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "s", "lessons_learned": "l"})
        for _ in range(100):
            if (await complaints.state(cid)).stage is Stage.ANALYSING:
                break
            await asyncio.sleep(0.05)
        await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "khách xác nhận"})  # fails once
        await complaints.act(
            cid, Action.CAUSE_IDENTIFIED, **AGENT, data={"cause": "switch hỏng", "company_at_fault": True}
        )
        await complaints.act(cid, Action.PROPOSE_PLAN, **AGENT, data={"plan": "thay switch"})
        await complaints.act(cid, Action.MANAGER_APPROVAL, **MANAGER, data={"approved": True})
        await complaints.act(cid, Action.SEND_RESOLUTION, **AGENT, data={"reply": "Đã thay.", "channels": ["email"]})
        state = await complaints.act(
            cid, Action.CLOSE, **AGENT, data={"summary": "xong", "lessons_learned": "dự phòng"}
        )
        assert state.stage is Stage.CLOSED

    # a careless line, too: the second line of defence catches it
    structlog.get_logger("careless").info("intake received", customer=state.intake.customer, subject="x")
    logging.getLogger("careless.stdlib").warning("call back %s at %s", "bich@example.vn", "0912 345 678")

    text = captured.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = {line.get("event", "") for line in lines}
    assert "complaint registered" in events and "transition recorded" in events  # our structlog lines
    loggers = {line.get("logger") for line in lines}
    assert {"temporalio.activity", "temporalio.workflow"} <= loggers, loggers  # the library's, through the same
    assert any("signal manager_approval rejected" in event for event in events)
    for personal in (*PERSONAL, "Trần", "bich@example", "0912 345 678", "0987654321"):
        assert personal not in text, personal
    assert "[redacted]" in text
