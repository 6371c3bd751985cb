"""What customers read, word by word: the templates' block tags must not glue words together.

The document environment trims the newline after a block tag (`trim_blocks`), so a sentence that goes on after an
`{% endif %}` at the end of a line lost its space: a walk-through found "Quý kháchlúc" in the written reply.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from complaint_builders import SETTINGS, Complaints

from activities.documents import Occasion, render_document
from domain.actions import Action, Role
from domain.models import ComplaintState, DocumentKind, Transition

pytestmark = pytest.mark.postgres


def text_of(document: str) -> str:
    """The document as a reader sees it: tags gone, entities decoded, every run of whitespace one space."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", document)).split())


async def answered(complaints: Complaints, state: ComplaintState) -> Transition:
    """The cycle walked from its receipt to the written reply (the last transition, not yet recorded)."""
    state = await complaints.step(
        state, Action.CAUSE_IDENTIFIED, {"cause": "Gói cước cấu hình trùng", "company_at_fault": False}
    )
    state = await complaints.step(state, Action.PROPOSE_PLAN, {"plan": "Hoàn phí"})
    state = await complaints.step(state, Action.MANAGER_APPROVAL, {"approved": True}, role=Role.MANAGER)
    return complaints.act(state, Action.SEND_RESOLUTION, {"reply": "Đã hoàn lại 50.000 đồng."})


async def test_the_written_reply_keeps_the_space_before_the_receipt_time(complaints: Complaints) -> None:
    state = (await complaints.register()).state
    first = await answered(complaints, state)
    _title, body = render_document(DocumentKind.WRITTEN_REPLY, Occasion(first.state, first.event, SETTINGS))
    assert "khiếu nại của Quý khách lúc 02/03/2026 09:00 qua đường dây nóng" in text_of(body)

    state = await complaints.record(first)
    state = await complaints.step(state, Action.CLOSE, {"summary": "Đã hoàn phí", "lessons_learned": "Kiểm tra gói"})
    reopened_at = state.timeline[-1].at + timedelta(days=2)
    new_cycle = await complaints.records.compute_cycle_clocks(reopened_at)
    state = await complaints.step(
        state, Action.REOPEN, {"reason": "Chưa nhận tiền"}, after=timedelta(days=2), new_cycle=new_cycle
    )
    second = await answered(complaints, state)
    _title, body = render_document(DocumentKind.WRITTEN_REPLY, Occasion(second.state, second.event, SETTINGS))
    assert second.state.cycle == 2
    assert re.search(r"Quý khách \(lần xem xét thứ 2\) lúc \d\d/\d\d/\d{4} \d\d:\d\d qua", text_of(body))
