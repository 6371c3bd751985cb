"""Recorded histories replay against today's workflow code: complaints in flight survive a deploy.

tests/histories/0.1.0/ is the baseline of the first release. A later change to the workflow's commands goes behind
`workflow.patched`, and its own generation is recorded next to it (see `keep_history` in conftest.py); none is
ever overwritten.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowRunner
from workflow_support import TEST_DATA_CONVERTER

import workflows.complaint
from worker import SANDBOX_CHECK, WORKFLOW_RUNNER
from workflows.complaint import ComplaintWorkflow
from workflows.visibility import STAGE

HISTORY_ROOT = Path(__file__).resolve().parent.parent / "histories"
HISTORIES = sorted(HISTORY_ROOT.rglob("*.json"))
BASELINE = HISTORY_ROOT / "0.1.0"


def test_histories_are_recorded() -> None:
    assert len(list(BASELINE.glob("*.json"))) >= 7, "record them with COMPLAINTS_RECORD_HISTORIES=0.1.0"


async def replay(history: WorkflowHistory, runner: WorkflowRunner = WORKFLOW_RUNNER) -> Exception | None:
    replayer = Replayer(workflows=[ComplaintWorkflow], data_converter=TEST_DATA_CONVERTER, workflow_runner=runner)
    return (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure


@pytest.mark.parametrize(
    ("name", "recorded"),
    [(str(p.relative_to(HISTORY_ROOT)), p.read_text(encoding="utf-8")) for p in HISTORIES],
    ids=[str(p.relative_to(HISTORY_ROOT).with_suffix("")) for p in HISTORIES],
)
async def test_recorded_history_replays(name: str, recorded: str) -> None:
    failure = await replay(WorkflowHistory.from_json(name, recorded))
    assert failure is None, f"{name}: {failure}"


@pytest.mark.parametrize(
    ("name", "recorded"),
    [(str(p.relative_to(HISTORY_ROOT)), p.read_text(encoding="utf-8")) for p in HISTORIES],
    ids=[str(p.relative_to(HISTORY_ROOT).with_suffix("")) for p in HISTORIES],
)
async def test_recorded_history_replays_inside_the_sandbox(name: str, recorded: str) -> None:
    """The worker runs the complaint outside the SDK's sandbox (see `worker.WORKFLOW_RUNNER`); every history also
    replays inside it, where workflow code reaching for the clock, randomness or I/O raises instead of running."""
    failure = await replay(WorkflowHistory.from_json(name, recorded), SANDBOX_CHECK)
    assert failure is None, f"{name}: {failure}"


async def test_an_unguarded_change_breaks_complaints_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    """The versioning drill: the baseline replays; the same history against a workflow changed without
    `workflow.patched` (here: the stage no longer shown to operators, so a transition upserts no search
    attribute) fails replay, which is what a worker would do to every complaint in flight after such a deploy."""
    recorded = (BASELINE / "full_lifecycle.json").read_text(encoding="utf-8")
    history = WorkflowHistory.from_json("full_lifecycle", recorded)
    assert await replay(history) is None
    shown = workflows.complaint.search_attributes
    monkeypatch.setattr(
        workflows.complaint,
        "search_attributes",
        lambda state: [u for u in shown(state) if u.key.name != STAGE.name],
    )
    assert isinstance(await replay(history), workflow.NondeterminismError)
