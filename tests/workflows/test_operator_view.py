"""What an operator reads in the Temporal UI, read back from a real history: every timer and record activity named
for what it is (the timer's or marker's user metadata), and current details in local time to the minute."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from domain.actions import Action, Role
from starter.client import ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
HO_CHI_MINH = ZoneInfo("Asia/Ho_Chi_Minh")
NAMED = {
    EventType.EVENT_TYPE_TIMER_STARTED: "timer",
    EventType.EVENT_TYPE_MARKER_RECORDED: "local activity",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
}


def local(instant: datetime) -> str:
    return instant.astimezone(HO_CHI_MINH).strftime("%d/%m/%Y %H:%M")


async def summaries(complaints: ComplaintClient, complaint_id: str) -> list[tuple[str, str]]:
    """(kind, summary) of every timer and activity in the complaint's history, decoded as the UI's codec would."""
    converter = complaints.client.data_converter
    history = await complaints.handle(complaint_id).fetch_history()
    found = []
    for event in history.events:
        if event.event_type in NAMED:
            found.append((NAMED[event.event_type], await summary_of(event, converter)))
    return found


async def summary_of(event: HistoryEvent, converter: Any) -> str:
    assert event.HasField("user_metadata") and event.user_metadata.HasField("summary"), f"unnamed: {event}"
    [summary] = await converter.decode([event.user_metadata.summary], [str])
    assert isinstance(summary, str)
    return summary


async def test_timers_and_record_work_are_named_for_the_operator(
    intake: Any, complaints: ComplaintClient, time_env: WorkflowEnvironment
) -> None:
    started = await complaints.start(intake())
    cid, deadlines = started.complaint_id, started.deadlines
    assert await summaries(complaints, cid) == [
        ("local activity", "register the complaint"),
        ("timer", "first-response reminder"),
    ]
    await time_env.sleep(timedelta(hours=21))  # the reminder rings 4 hours before the first response is due
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    now = await time_env.get_current_time()
    await time_env.sleep(deadlines.resolution_warning_at - now + timedelta(minutes=1))
    assert await summaries(complaints, cid) == [
        ("local activity", "register the complaint"),
        ("timer", "first-response reminder"),
        ("local activity", "record first_response_reminded"),
        ("timer", f"first response due {local(deadlines.first_response_due)}"),
        ("local activity", "record acknowledge"),
        ("timer", f"resolution warning to the department head {local(deadlines.resolution_warning_at)}"),
        ("local activity", "record resolution_warning"),
        ("timer", f"resolution due {deadlines.resolution_due_date:%d/%m/%Y} 24:00"),
    ]


async def test_current_details_read_in_local_time_to_the_minute(intake: Any, complaints: ComplaintClient) -> None:
    started = await complaints.start(intake())
    await complaints.act(started.complaint_id, Action.ACKNOWLEDGE, **AGENT)
    state = await complaints.state(started.complaint_id)
    metadata = await complaints.handle(started.complaint_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    details = metadata.current_details
    assert state.first_responded_at is not None
    assert details.splitlines() == [
        f"**{state.case_number}** · stage `analysing` · department `{state.department}` · cycle 1",
        f"- first response due {local(state.deadlines.first_response_due)} (met {local(state.first_responded_at)})",
        f"- resolution due {state.deadlines.resolution_due_date:%d/%m/%Y} 24:00",
        "- escalation level 0 (none)",
        "- times in Asia/Ho_Chi_Minh",
    ]
    assert not re.search(r"\d{2}:\d{2}:\d{2}|\.\d{3,}|\+00:00", details), "no seconds, fractions or UTC offsets"
