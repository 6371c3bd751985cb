"""What a walk-through of the complaint page found, each over HTTP against the real worker and PostgreSQL: the
reply channel offered to a customer who has no e-mail, the manager's decision said in words, and clocks shown
as upcoming on a complaint whose clocks no longer run."""

from __future__ import annotations

import re

import httpx
import pytest
from web_support import SignIn, act, take_in

from activities.queries import ComplaintQueries
from web.clock import local_time

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


def decision_in_timeline(page: str) -> list[str]:
    """What the timeline says under "Decision" (Quyết định) for each manager's decision, newest first."""
    return re.findall(r"<dt>(?:Quyết định|Decision)</dt>\s*<dd>([^<]*)</dd>", page)


async def test_the_managers_decision_is_said_in_words_and_its_flash_says_which(signed_in: SignIn) -> None:
    agent, manager = await signed_in("agent"), await signed_in("manager")
    complaint_id = await take_in(agent)
    await propose_plan(agent, complaint_id)
    rejected = await act(manager, complaint_id, "manager_approval", {"comment": "Thiếu chi tiết"}, approved="false")
    assert rejected.status_code == 303
    page = await manager.get(rejected.headers["location"])
    assert '<div class="banner ok" role="status">Phương án bị từ chối.</div>' in page.text
    assert decision_in_timeline(page.text) == ["Phương án bị từ chối"]

    await propose_plan(agent, complaint_id, "Hoàn tiền và giảm cước tháng sau")
    await manager.get(f"/complaints/{complaint_id}?lang=en")  # the manager reads English from here on
    approval = await act(manager, complaint_id, "manager_approval", approved="true")
    assert approval.status_code == 303
    page = await manager.get(approval.headers["location"])
    assert '<div class="banner ok" role="status">Plan approved.</div>' in page.text
    assert decision_in_timeline(page.text) == ["Plan approved", "Plan rejected"]

    vietnamese = await agent.get(f"/complaints/{complaint_id}")
    assert decision_in_timeline(vietnamese.text) == ["Phương án đã được duyệt", "Phương án bị từ chối"]


async def test_a_complaint_whose_clocks_stopped_shows_no_upcoming_warning(
    signed_in: SignIn, queries: ComplaintQueries
) -> None:
    agent, complaint_id = await approved(signed_in)
    state = await queries.get_snapshot(complaint_id)
    assert state is not None and not state.resolution_warned
    warning_at = local_time(state.deadlines.resolution_warning_at)
    page = await agent.get(f"/complaints/{complaint_id}")
    assert re.search(rf"<dt>Sẽ cảnh báo trưởng bộ phận</dt>\s*<dd>{warning_at}</dd>", page.text)

    reply = {"reply": "Đã hoàn tiền", "channels": "direct"}
    assert (await act(agent, complaint_id, "send_resolution", reply)).status_code == 303
    closing = {"summary": "Đã hoàn tiền", "lessons_learned": "Đối soát hằng ngày"}
    assert (await act(agent, complaint_id, "close", closing)).status_code == 303
    withdrawn_id = await take_in(agent)
    assert (await act(agent, withdrawn_id, "withdraw", {"reason": "khách rút lại"})).status_code == 303

    for stopped in (complaint_id, withdrawn_id):
        page = await agent.get(f"/complaints/{stopped}?lang=en")
        assert page.status_code == 200
        assert "Department head" not in page.text, stopped
        warned_at = await queries.get_snapshot(stopped)
        assert warned_at is not None and local_time(warned_at.deadlines.resolution_warning_at) not in page.text
