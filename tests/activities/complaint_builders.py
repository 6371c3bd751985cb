"""Builders for the activity tests: real domain transitions, recorded through the real activities.

A module with its own name (not conftest) so test modules can import it; pytest puts this directory on sys.path.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from activities.notifications import NotificationSettings
from activities.queries import ComplaintQueries
from activities.records import ComplaintRecords
from domain.actions import Action, ActionRequest, Role
from domain.case_link import CaseLinks
from domain.company import parse_company_profile
from domain.intake import Channel, Customer, Intake
from domain.lifecycle import ClockEvent, apply_action, apply_clock
from domain.models import ComplaintState, RegisterComplaint, Transition, TransitionRecord

CUSTOMER_NAME = "Nguyễn Thị Hoa"
CUSTOMER_PHONE = "+84 912 345 678"
CUSTOMER_EMAIL = "hoa.nguyen@example.vn"
CUSTOMER_ADDRESS = "12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội"
PERSONAL_DATA = (CUSTOMER_NAME, CUSTOMER_PHONE, CUSTOMER_EMAIL, CUSTOMER_ADDRESS, "Nguyễn", "hoa.nguyen", "912 345")

RECEIVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
"""Monday 2 March 2026, 09:00 in Ho Chi Minh City."""

TEST_COMPANY_PROFILE = """
legal_name = "Công ty Cổ phần Viễn thông Thử nghiệm"
address = "Số 1 Phố Thử, Hà Nội"

[[departments]]
code = "customer_care"
name_vi = "Chăm sóc khách hàng"
name_en = "Customer care"
mailbox = "customer_care@localhost"
head_mailbox = "customer_care-head@localhost"

[[departments]]
code = "billing"
name_vi = "Tính cước"
name_en = "Billing"
mailbox = "tinh-cuoc@example.vn"
head_mailbox = "truong-tinh-cuoc@example.vn"

[[departments]]
code = "network"
name_vi = "Mạng lưới"
name_en = "Network"
mailbox = "mang-luoi@example.vn"
head_mailbox = "network-head@localhost"
"""
"""A company of the tests' own, so documents show its names rather than the built-in profile's."""
PUBLIC_URL = "https://cskh.example.vn"
CASE_LINKS = CaseLinks(b"the activity tests' case link key!")
"""The links every letter to a customer carries, as the worker's settings give them (`Settings.notifications`)."""
SETTINGS = NotificationSettings(
    parse_company_profile(TEST_COMPANY_PROFILE, "complaint_builders.py"), case_links=CASE_LINKS, public_url=PUBLIC_URL
)


def intake(**changes: Any) -> Intake:
    customer = Customer(name=CUSTOMER_NAME, phone=CUSTOMER_PHONE, email=CUSTOMER_EMAIL, address=CUSTOMER_ADDRESS)
    values: dict[str, Any] = {
        "customer": customer,
        "channel": Channel.PHONE,  # an agent took it: no receipt mail, the outbox holds what the actions queue
        "subject": "Cước tháng 2 bị tính sai",
        "description": "Hóa đơn tháng 2 có khoản phí dịch vụ tôi không đăng ký.",
        "department": "customer_care",
    }
    values.update(changes)
    return Intake(**values)


@dataclass
class Complaints:
    """Register complaints and walk them through the lifecycle with the domain's own functions; `queries`
    reads back what was recorded."""

    records: ComplaintRecords
    queries: ComplaintQueries
    _requests: itertools.count[int] = field(default_factory=itertools.count)

    def request(
        self,
        *,
        complaint_id: str | None = None,
        received_at: datetime = RECEIVED,
        now: datetime | None = None,
        **intake_changes: Any,
    ) -> RegisterComplaint:
        complaint_id = complaint_id or f"c-{uuid.uuid4().hex[:12]}"
        return RegisterComplaint(
            complaint_id=complaint_id,
            workflow_id=f"complaint-{complaint_id}",
            intake=intake(**intake_changes),
            received_at=received_at,
            now=now or received_at,
        )

    async def register(self, **kwargs: Any) -> Transition:
        return await self.records.register_complaint(self.request(**kwargs))

    def act(
        self,
        state: ComplaintState,
        action: Action,
        data: dict[str, Any] | None = None,
        *,
        role: Role = Role.AGENT,
        after: timedelta = timedelta(hours=1),
        **kwargs: Any,
    ) -> Transition:
        request = ActionRequest(
            request_id=f"r-{next(self._requests)}", actor="Trần Văn Nam (CSKH)", role=role, data=data or {}
        )
        return apply_action(state, action, request, state.timeline[-1].at + after, **kwargs)

    def clock(self, state: ComplaintState, event: ClockEvent, at: datetime | None = None) -> Transition:
        return apply_clock(state, event, at or state.timeline[-1].at + timedelta(minutes=1))

    async def record(self, transition: Transition) -> ComplaintState:
        await self.records.record_transition(
            TransitionRecord(workflow_id=f"complaint-{transition.state.complaint_id}", transition=transition)
        )
        return transition.state

    async def step(
        self, state: ComplaintState, action: Action, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> ComplaintState:
        return await self.record(self.act(state, action, data, **kwargs))
