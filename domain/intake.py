"""A complaint as it comes in, from any door: the customer, the channel, the text, and when it was received."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, model_validator
from pydantic_core import PydanticCustomError

from domain.attachments import AttachmentRef
from domain.deadlines import EARLIEST_RECEIPT, LATEST_RECEIPT, check_receipt_in_calendar
from domain.fields import Address, ComplaintId, DepartmentCode, Description, Email, LongText, Phone, ShortText, Strict
from domain.mail_thread import MessageId
from domain.policy import POLICY

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a `received_at` may lie before it counts as a mistake (clocks of other services drift)."""


class Channel(StrEnum):
    BRANCH = "branch"
    PHONE = "phone"
    LETTER = "letter"
    EMAIL = "email"
    SUPPORT_TICKET = "support_ticket"
    WEB = "web"


class Customer(Strict):
    name: ShortText
    phone: Phone | None = None
    email: Email | None = None
    address: Address | None = None
    contact_person: ShortText | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Customer:
        if not (self.phone or self.email or self.address):
            raise ValueError("needs at least one of phone, email or address")
        return self


class ResolveOnFirstContact(Strict):
    resolution: LongText
    customer_agreed: bool
    """Both sides agree on the spot; without that it is not settled and goes through the full process."""


def _receipt_in_calendar(value: datetime) -> datetime:
    try:
        check_receipt_in_calendar(value)
    except ValueError:
        raise PydanticCustomError(
            "received_at_out_of_range",
            "must be between {earliest} and {latest} (the dates the working-day calendar knows)",
            {"earliest": EARLIEST_RECEIPT.isoformat(), "latest": LATEST_RECEIPT.isoformat()},
        ) from None
    return value


ReceivedAt = Annotated[AwareDatetime, AfterValidator(_receipt_in_calendar)]
"""A receipt the clocks can compute from, whoever sends it: year 1 or 1000 would overflow or mint odd case numbers."""


class Intake(Strict):
    """A complaint as it is received, from any door."""

    customer: Customer
    channel: Channel
    subject: ShortText
    description: Description
    service: ShortText | None = None
    received_at: ReceivedAt | None = None
    """When the company got it; for a letter entered later. Defaults to the moment it is started."""
    complaint_id: ComplaintId | None = None
    """The caller's idempotency key (a ticket number, a hash of a Message-ID): starting twice returns the same."""
    department: DepartmentCode = "customer_care"
    """The receiving department."""
    taken_by: ShortText | None = None
    """The agent who took it in (at a branch, on the phone): the actor of the receipt in the timeline."""
    settled_on_the_spot: ResolveOnFirstContact | None = None
    """Made in person and settled at once, both sides agreeing: no receipt form, a resolution record instead."""
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=20)
    """Files that came with it, already in the attachment store: the workflow carries only their references."""
    message_id: MessageId | None = None
    """The customer's own mail, when it came by mail: the root of the thread the company's replies continue."""

    @model_validator(mode="after")
    def _settled_in_person(self) -> Intake:
        if self.settled_on_the_spot is not None:
            if self.channel is not Channel.BRANCH:
                raise ValueError("settled_on_the_spot is only for a complaint made in person at a branch")
            if not self.settled_on_the_spot.customer_agreed:
                raise ValueError("settled_on_the_spot needs the customer's agreement (customer_agreed: true)")
            if not self.taken_by:
                raise ValueError("settled_on_the_spot needs taken_by: the agent who settled it")
        return self


class IntakeError(ValueError):
    """Bad intake, named by its field, so a form can show it next to the field. `code` is stable (a pydantic error
    type such as `string_too_long`, a text policy code such as `text_bidi_control`, or a `received_at_*` code) so a
    door words it in its own language; `params` hold what that wording needs."""

    def __init__(
        self, field: str, problem: str, code: str = "value_error", params: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.code = code
        self.params = dict(params or {})


def check_received_at(received_at: datetime, now: datetime, window: timedelta = POLICY.receipt_window) -> None:
    """A receipt in the future is a typing mistake or a wrong clock, and one long before `now - window` is a typo
    in the year (or an attempt to make a complaint overdue at once); either would promise a wrong deadline."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise IntakeError("received_at", "must include a time zone offset", "received_at_no_time_zone")
    try:
        check_receipt_in_calendar(received_at)
    except ValueError:
        raise IntakeError(
            "received_at",
            f"must be between {EARLIEST_RECEIPT.isoformat()} and {LATEST_RECEIPT.isoformat()}",
            "received_at_out_of_range",
            {"earliest": EARLIEST_RECEIPT.isoformat(), "latest": LATEST_RECEIPT.isoformat()},
        ) from None
    if received_at > now + CLOCK_SKEW:
        raise IntakeError("received_at", "must not be in the future", "received_at_in_future")
    if received_at < now - window:
        days = window.days
        raise IntakeError(
            "received_at",
            f"must not be more than {days} days before now (COMPLAINTS_RECEIPT_WINDOW_DAYS)",
            "received_at_too_early",
            {"days": days},
        )
