"""What a walk-through of the complaint page found, each over HTTP against the real worker and PostgreSQL: the
reply channel offered to a customer who has no e-mail, the manager's decision said in words, and clocks shown
as upcoming on a complaint whose clocks no longer run."""

from __future__ import annotations

import re

import httpx
import pytest
from web_support import SignIn, act, take_in

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


async def propose_plan(agent: httpx.AsyncClient, complaint_id: str, plan: str = "Hoàn tiền") -> None:
    """The complaint to `awaiting_approval`: its cause found (once) and a plan proposed."""
    page = await agent.get(f"/complaints/{complaint_id}")
    if "/actions/cause_identified" in page.text:
        assert (await act(agent, complaint_id, "cause_identified", {"cause": "Lỗi đối soát"})).status_code == 303
    assert (await act(agent, complaint_id, "propose_plan", {"plan": plan})).status_code == 303


async def approved(signed_in: SignIn, **intake: str) -> tuple[httpx.AsyncClient, str]:
    """A complaint taken in with `intake`, its plan approved: the send-resolution form is offered. (agent, id)"""
    agent, manager = await signed_in("agent"), await signed_in("manager")
    complaint_id = await take_in(agent, **intake)
    await propose_plan(agent, complaint_id)
    assert (await act(manager, complaint_id, "manager_approval", approved="true")).status_code == 303
    return agent, complaint_id


def preselected_channels(page: str) -> list[str]:
    """The reply channels checked in the send-resolution form of a complaint page."""
    form = re.search(r'action="/complaints/[^"]+/actions/send_resolution"(.*?)</form>', page, re.S)
    assert form, "no send-resolution form on the page"
    return re.findall(r'name="channels" value="(\w+)" checked>', form.group(1))


async def test_the_reply_is_offered_on_a_channel_the_customer_can_be_reached_on(signed_in: SignIn) -> None:
    for contact, channel in (
        ({"customer.email": "an.nguyen@example.vn"}, "email"),
        ({"customer.phone": "", "customer.address": "12 Lý Thường Kiệt, Hà Nội"}, "letter"),
        ({}, "direct"),  # a phone number only: answered directly
    ):
        agent, complaint_id = await approved(signed_in, **contact)
        page = await agent.get(f"/complaints/{complaint_id}")
        assert preselected_channels(page.text) == [channel], contact

    # What the agent sent comes back as sent (no channel chosen), not as the default.
    missing = await act(agent, complaint_id, "send_resolution", {"reply": "Đã hoàn tiền"})
    assert missing.status_code == 422
    assert preselected_channels(missing.text) == []
    sent = await act(agent, complaint_id, "send_resolution", {"reply": "Đã hoàn tiền", "channels": "direct"})
    assert sent.status_code == 303
