"""The workflow and the pure model agree: random action sequences driven through a real workflow are accepted or
refused exactly as `domain.lifecycle` predicts, and end in the state it predicts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.actions import Action, ActionRequest, Role
from domain.calendar import WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.lifecycle import ActionRejected, apply_action
from domain.models import ComplaintState, CycleClocks
from starter.client import ActionFailed, ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

DATA: dict[Action, list[dict[str, Any]]] = {
    Action.ACKNOWLEDGE: [{}],
    Action.REQUEST_INFO: [{"missing": ["documents"], "message": "xin bổ sung"}, {"missing": [], "message": "m"}],
    Action.CUSTOMER_INFO_RECEIVED: [{"summary": "đã nhận"}],
    Action.CUSTOMER_WROTE: [{"text": "vẫn lỗi"}],
    Action.TRANSFER: [{"to_department": "technical", "reason": "r"}, {"to_department": "billing", "reason": "r"}],
    Action.RESOLVE_ON_FIRST_CONTACT: [{"resolution": "r", "customer_agreed": True}],
    Action.CAUSE_IDENTIFIED: [{"cause": "c", "company_at_fault": True, "departments": ["network"]}],
    Action.PROPOSE_PLAN: [{"plan": "p"}],
    Action.MANAGER_APPROVAL: [{"approved": True}, {"approved": False, "comment": "no"}, {"approved": False}],
    Action.SEND_RESOLUTION: [{"reply": "r"}],
    Action.REPORT_FOLLOWUP: [{"fault": "f"}],
    Action.CLOSE: [{"summary": "s", "lessons_learned": "l"}, {"summary": "s"}],
    Action.REOPEN: [{"reason": "r"}],
    Action.WITHDRAW: [{"reason": "r"}],
    Action.ADD_NOTE: [{"text": "t"}],
}
ROLES = [Role.AGENT, Role.AGENT, Role.MANAGER, Role.SYSTEM]
SEQUENCES = 12
STEPS = 20


def any_clocks(at: datetime) -> CycleClocks:
    return CycleClocks(deadlines=compute_deadlines(at, WorkingCalendar()), working_days=[])


def outline(state: ComplaintState) -> tuple[Any, ...]:
    """What must agree; instants differ between the model's clock and the server's."""
    return (
        state.stage,
        state.department,
        state.cycle,
        [(e.kind, e.actor, e.role, e.door, e.cycle) for e in state.timeline],
        state.cause,
        state.plan,
        state.approval.approved if state.approval else None,
        state.resolution,
        state.lessons_learned,
        state.applied_requests,
    )


@pytest.mark.parametrize("seed", range(SEQUENCES))
async def test_random_sequences_agree_with_the_model(seed: int, intake: Any, complaints: ComplaintClient) -> None:
    rng = random.Random(seed)
    started = await complaints.start(intake())
    cid = started.complaint_id
    model = await complaints.state(cid)
    for step in range(STEPS):
        action = rng.choices(list(DATA), weights=[0.2 if a is Action.WITHDRAW else 1.0 for a in DATA])[0]
        role, data = rng.choice(ROLES), rng.choice(DATA[action])
        request = ActionRequest(request_id=f"{seed}-{step}", actor=f"actor{step % 3}", role=role, data=data)
        try:
            predicted: ComplaintState | None = apply_action(
                model, action, request, datetime.now(UTC), any_clocks(datetime.now(UTC) + timedelta(days=1))
            ).state
        except ActionRejected:
            predicted = None
        try:
            actual = await complaints.act(cid, action, actor=request.actor, role=role, data=data,
                                          request_id=request.request_id)  # fmt: skip
        except ActionFailed:
            assert predicted is None, f"step {step}: the workflow refused {action} the model allows"
            continue
        assert predicted is not None, f"step {step}: the workflow applied {action} the model refuses"
        assert outline(actual) == outline(predicted.without_history()), f"step {step}: {action} (update result)"
        model = await complaints.state(cid)
        assert outline(model) == outline(predicted), f"step {step}: {action} (state)"
        if model.stage.value in ("withdrawn",):
            break
    final = await complaints.state(cid) if model.stage.value != "withdrawn" else model
    assert outline(final) == outline(model)
