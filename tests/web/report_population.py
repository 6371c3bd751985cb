"""A small population of complaints for the reports' web tests, recorded through the real write path (the domain's
own transitions, `ComplaintRecords.register_complaint` and `record_transition`), with receipts in the weeks before
`now`, so the reports' default period (the last six months) holds them.

billing, email: answered in 2 hours and closed with a lesson whose cause recurs (company at fault)
network, phone: first response missed, closed later with the same cause (not at fault), breached
billing, phone: waiting on the customer, past its due date
network, email: merged into the one above; another withdrawn
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from activities.records import ComplaintRecords
from domain.actions import Action, ActionRequest, Role
from domain.intake import Intake
from domain.lifecycle import ClockEvent, apply_action, apply_clock
from domain.models import ComplaintState, RegisterComplaint, TransitionRecord

CAUSE = "Lỗi đồng bộ cước"
LESSON = "Đối soát cước hằng tuần với nhà cung cấp"
FORMULA_LESSON = '=HYPERLINK("http://evil.example")'
"""A lesson an agent typed that Excel would take for a formula: the CSV must quote it."""


@dataclass
class Seeded:
    states: dict[str, ComplaintState]


async def seed_reports(records: ComplaintRecords, now: datetime) -> Seeded:
    counter = iter(range(10_000))

    async def register(name: str, received: datetime, department: str, channel: str) -> ComplaintState:
        complaint_id = f"rep-{name}-{uuid.uuid4().hex[:8]}"
        intake = Intake.model_validate(
            {
                "customer": {"name": "Đặng Thị Ánh", "phone": "0912345678"},
                "channel": channel,
                "subject": f"Cước tháng này bị tính sai ({name})",
                "description": "Hóa đơn có khoản phí không đăng ký.",
                "department": department,
            }
        )
        request = RegisterComplaint(
            complaint_id=complaint_id,
            workflow_id=f"complaint-{complaint_id}",
            intake=intake,
            received_at=received,
            now=received,
        )
        return (await records.register_complaint(request)).state

    async def step(
        state: ComplaintState, hours: float, action: Action, data: dict[str, Any] | None = None, **kw: Any
    ) -> ComplaintState:
        role = kw.pop("role", Role.AGENT)
        request = ActionRequest(request_id=f"seed-{next(counter)}", actor="seed", role=role, data=data or {})
        transition = apply_action(state, action, request, state.timeline[-1].at + timedelta(hours=hours), **kw)
        await records.record_transition(
            TransitionRecord(workflow_id=f"complaint-{state.complaint_id}", transition=transition)
        )
        return transition.state

    async def clock(state: ComplaintState, event: ClockEvent, at: datetime) -> ComplaintState:
        transition = apply_clock(state, event, at)
        await records.record_transition(
            TransitionRecord(workflow_id=f"complaint-{state.complaint_id}", transition=transition)
        )
        return transition.state

    states: dict[str, ComplaintState] = {}
    a = await register("a", now - timedelta(days=40), "billing", "email")
    a = await step(a, 2, Action.ACKNOWLEDGE)
    a = await step(a, 20, Action.CAUSE_IDENTIFIED, {"cause": CAUSE, "company_at_fault": True, "departments": []})
    a = await step(a, 1, Action.PROPOSE_PLAN, {"plan": "Hoàn cước"})
    a = await step(a, 3, Action.MANAGER_APPROVAL, {"approved": True}, role=Role.MANAGER)
    a = await step(a, 48, Action.SEND_RESOLUTION, {"reply": "Đã hoàn cước."})
    states["a"] = await step(a, 24, Action.CLOSE, {"summary": "Đã hoàn cước", "lessons_learned": LESSON})

    b = await register("b", now - timedelta(days=38), "network", "phone")
    b = await clock(b, ClockEvent.FIRST_RESPONSE_ESCALATED, b.deadlines.first_response_due)
    b = await step(b, 6, Action.ACKNOWLEDGE)
    b = await step(b, 5, Action.CAUSE_IDENTIFIED, {"cause": CAUSE, "company_at_fault": False, "departments": []})
    b = await step(b, 1, Action.PROPOSE_PLAN, {"plan": "Hướng dẫn khách"})
    b = await step(b, 1, Action.MANAGER_APPROVAL, {"approved": True}, role=Role.MANAGER)
    b = await clock(b, ClockEvent.RESOLUTION_BREACHED, b.deadlines.resolution_due)
    b = await step(b, 2, Action.SEND_RESOLUTION, {"reply": "Đã hướng dẫn."})
    states["b"] = await step(b, 1, Action.CLOSE, {"summary": "Xong", "lessons_learned": FORMULA_LESSON})

    c = await register("c", now - timedelta(days=35), "billing", "phone")
    states["c"] = await step(c, 1, Action.REQUEST_INFO, {"missing": ["documents"], "message": "Xin hóa đơn"})

    d = await register("d", now - timedelta(days=35) + timedelta(hours=2), "network", "email")
    states["d"] = await step(d, 1, Action.MERGE_INTO, {"primary_complaint_id": c.complaint_id})

    e = await register("e", now - timedelta(days=3), "network", "email")
    e = await step(e, 1, Action.ACKNOWLEDGE)
    states["e"] = await step(e, 1, Action.WITHDRAW, {"reason": "Khách tự xử lý"})
    return Seeded(states)
