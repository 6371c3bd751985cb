"""Row 10 of the hardening issue, through the client SDK: a 3 MB note is refused before it is sent, naming the
field, and the complaint goes on taking actions at once (it used to fail its workflow task with
PAYLOADS_TOO_LARGE, and every action said "not open" for about 20 seconds)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.actions import Action, ActionRequest, Role
from domain.models import Stage
from starter.client import ActionFailed, ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
THREE_MB = "Ghi chú rất dài. " * (3 * 1024 * 1024 // 17)


async def test_a_three_megabyte_note_is_refused_before_it_is_sent(intake: Any, complaints: ComplaintClient) -> None:
    cid = (await complaints.start(intake())).complaint_id
    with pytest.raises(ActionFailed) as refused:
        await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": THREE_MB})
    assert "text:" in refused.value.reason and "5000" in refused.value.reason
    with pytest.raises(ActionFailed, match="summary"):
        await complaints.signal(
            cid,
            Action.CUSTOMER_INFO_RECEIVED,
            ActionRequest(request_id="big-1", actor="mail", role=Role.SYSTEM, data={"summary": THREE_MB}),
        )
    with pytest.raises(ActionFailed, match="actor"):
        await complaints.act(cid, Action.ADD_NOTE, actor="a\x00b", role=Role.AGENT, data={"text": "x"})
    state = await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)  # at once: nothing reached the workflow
    assert state.stage is Stage.ANALYSING and [e.kind for e in (await complaints.state(cid)).timeline] == [
        "received",
        "acknowledge",
    ]


async def test_a_key_holder_bypassing_the_client_jams_nothing(intake: Any, complaints: ComplaintClient) -> None:
    """The same note sent straight to the workflow's update (the SDK without our client): refused, by the server
    or by the workflow's validator, and the complaint takes the next action at once."""
    cid = (await complaints.start(intake())).complaint_id
    request = ActionRequest(request_id="raw-1", actor="agent.lan", role=Role.AGENT, data={"text": THREE_MB})
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await complaints.handle(cid).execute_update(Action.ADD_NOTE.value, request)
    state = await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    assert state.stage is Stage.ANALYSING
