"""A department the company does not have is refused at the client, the door every other door goes through:
at intake and in the actions that name departments, naming the field, before anything is started or sent."""

from __future__ import annotations

import asyncpg
import pytest
from samples import make_intake
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import Action, ActionRequest, Role
from domain.intake import IntakeError
from domain.refusals import Refusal
from starter.client import ActionFailed, ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}


async def test_an_unknown_department_starts_nothing(complaints: ComplaintClient, pool: asyncpg.Pool) -> None:
    intake = make_intake(department="marketing")
    with pytest.raises(IntakeError) as refused:
        await complaints.start(intake)
    assert refused.value.field == "department"
    assert refused.value.code == Refusal.DEPARTMENT_UNKNOWN.value
    assert refused.value.params["department"] == "marketing"
    with pytest.raises(RPCError) as absent:
        await complaints.handle(intake["complaint_id"]).describe()
    assert absent.value.status is RPCStatusCode.NOT_FOUND
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", intake["complaint_id"]) == 0


async def test_actions_naming_an_unknown_department_are_refused_before_sending(
    complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    state = await complaints.start(make_intake(department="technical"))
    cid = state.complaint_id
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    with pytest.raises(ActionFailed) as transfer:
        await complaints.act(cid, Action.TRANSFER, **AGENT, data={"to_department": "marketing", "reason": "r"})
    assert transfer.value.code == Refusal.DEPARTMENT_UNKNOWN.value
    assert transfer.value.params is not None and transfer.value.params["field"] == "to_department"
    assert "to_department: no department has the code 'marketing'" in transfer.value.reason

    cause = {"cause": "switch hỏng", "company_at_fault": True, "departments": ["network", "marketing"]}
    with pytest.raises(ActionFailed) as named:
        await complaints.act(cid, Action.CAUSE_IDENTIFIED, **AGENT, data=cause)
    assert named.value.params is not None and named.value.params["field"] == "departments"
    signal = ActionRequest(request_id="dept-signal-1", data=cause, **AGENT)
    with pytest.raises(ActionFailed, match="departments"):
        await complaints.signal(cid, Action.CAUSE_IDENTIFIED, signal)

    after = await complaints.state(cid)
    assert after.department == "technical" and after.cause is None
    assert [event.kind for event in after.timeline] == ["received", "acknowledge"]
    moved = await complaints.act(cid, Action.TRANSFER, **AGENT, data={"to_department": "billing", "reason": "cước"})
    assert moved.department == "billing"
