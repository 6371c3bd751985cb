"""Recorded histories replay against today's workflow code: complaints in flight survive a deploy.

They replay through the encrypting data converter. The first generation predates encryption: it replays with
the converter that reads clear-text payloads as they are (`accept_unencrypted`), which no worker uses; a worker
refuses such payloads (tests/workflows/test_unencrypted.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from workflow_support import TEST_DATA_CONVERTER, TEST_KEY_RING

from starter.codec import complaints_data_converter
from worker import WORKFLOW_RUNNER
from workflows.complaint import KEPT_ALARM, ComplaintWorkflow

HISTORY_ROOT = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = sorted(HISTORY_ROOT.rglob("*.json"))
"""Every generation: the first (before encryption and the reminder) and each later one in its own folder."""
BEFORE_ENCRYPTION = complaints_data_converter(TEST_KEY_RING, accept_unencrypted=True)


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 5, "record them with COMPLAINTS_RECORD_HISTORIES=1 pytest tests/workflows"


@pytest.mark.parametrize(
    ("name", "recorded"),
    [(str(p.relative_to(HISTORY_ROOT)), p.read_text(encoding="utf-8")) for p in HISTORIES],
    ids=[str(p.relative_to(HISTORY_ROOT).with_suffix("")) for p in HISTORIES],
)
async def test_recorded_history_replays(name: str, recorded: str) -> None:
    history = WorkflowHistory.from_json(name, recorded)
    converter = BEFORE_ENCRYPTION if "/" not in name else TEST_DATA_CONVERTER
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=converter, workflow_runner=WORKFLOW_RUNNER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"


async def test_the_first_response_reminder_unguarded_would_break_complaints_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The versioning drill: the reminder is behind `workflow.patched`; without that guard, a complaint that was
    waiting on its 24-hour clock when the new code was deployed could not be replayed."""
    recorded = (HISTORY_ROOT / "first_response_missed.json").read_text(encoding="utf-8")
    history = WorkflowHistory.from_json("first_response_missed", recorded)
    replayer = Replayer(
        workflows=[ComplaintWorkflow], data_converter=BEFORE_ENCRYPTION, workflow_runner=WORKFLOW_RUNNER
    )
    assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)  # the change as if written without the guard
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError), result.replay_failure


async def test_the_kept_alarm_unguarded_would_break_complaints_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second drill: the kept alarm changes which timers a run starts and cancels. A complaint recorded before
    it replays; with the change taken without its patch check, the same history fails replay."""
    recorded = (HISTORY_ROOT / "changed-search-attributes" / "full_lifecycle.json").read_text(encoding="utf-8")
    history = WorkflowHistory.from_json("full_lifecycle", recorded)
    replayer = Replayer(
        workflows=[ComplaintWorkflow], data_converter=TEST_DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER
    )
    assert (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None
    patched = workflow.patched
    monkeypatch.setattr(workflow, "patched", lambda patch_id: patch_id == KEPT_ALARM or patched(patch_id))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError), result.replay_failure
