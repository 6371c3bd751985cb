"""What every action carries: who acts, through which door, and one data model per action (`ACTION_DATA`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from domain.attachments import AttachmentRef
from domain.fields import ComplaintId, DepartmentCode, LongText, RequestId, ShortText, Strict
from domain.intake import ResolveOnFirstContact
from domain.text import TextRefused, check_data_shape


class Role(StrEnum):
    """Who acts. `system` is another service (email ingestion, a department's tool) sending an event."""

    AGENT = "agent"
    MANAGER = "manager"
    SYSTEM = "system"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REQUEST_INFO = "request_info"
    CUSTOMER_INFO_RECEIVED = "customer_info_received"
    CUSTOMER_WROTE = "customer_wrote"
    TRANSFER = "transfer"
    RESOLVE_ON_FIRST_CONTACT = "resolve_on_first_contact"
    CAUSE_IDENTIFIED = "cause_identified"
    PROPOSE_PLAN = "propose_plan"
    MANAGER_APPROVAL = "manager_approval"
    SEND_RESOLUTION = "send_resolution"
    REPORT_FOLLOWUP = "report_followup"
    CLOSE = "close"
    REOPEN = "reopen"
    MERGE_INTO = "merge_into"
    WITHDRAW = "withdraw"
    ADD_NOTE = "add_note"


SIGNAL_ACTIONS = (Action.CUSTOMER_INFO_RECEIVED, Action.CAUSE_IDENTIFIED, Action.MANAGER_APPROVAL)
"""The external events of the brief: services fire them and forget, so they are signals as well as updates."""


class Acknowledge(Strict):
    message: LongText | None = None


class InfoItem(StrEnum):
    CONTACT_PERSON = "contact_person"
    EMAIL = "email"
    PHONE = "phone"
    DOCUMENTS = "documents"
    LOGS = "logs"
    OTHER = "other"


class RequestInfo(Strict):
    missing: list[InfoItem] = Field(min_length=1)
    message: LongText


MAX_ATTACHMENTS = 20
"""Files one message may bring: a mail with more is a mailing, not evidence, and each ref travels in history."""


class CustomerInfoReceived(Strict):
    summary: LongText
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    """Files the answer came with, already kept in the attachment store (the door stores, the workflow refers)."""


class CustomerWrote(Strict):
    """The customer wrote while nothing was asked of them (a mail, later the portal): agents see it at once."""

    text: LongText
    subject: ShortText | None = None
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class Transfer(Strict):
    to_department: DepartmentCode
    reason: LongText


class CauseIdentified(Strict):
    cause: LongText
    company_at_fault: bool
    departments: list[DepartmentCode] = Field(default_factory=list, max_length=20)
    """Departments concerned; if the company is at fault, each gets a fix request with the reply."""


class ProposePlan(Strict):
    plan: LongText


class ManagerApproval(Strict):
    approved: bool
    comment: LongText | None = None

    @model_validator(mode="after")
    def _rejection_says_why(self) -> ManagerApproval:
        if not self.approved and not self.comment:
            raise ValueError("comment is required when the plan is rejected")
        return self


class ReplyChannel(StrEnum):
    DIRECT = "direct"
    EMAIL = "email"
    SUPPORT_TICKET = "support_ticket"
    LETTER = "letter"


class SendResolution(Strict):
    reply: LongText
    channels: list[ReplyChannel] = Field(default_factory=lambda: [ReplyChannel.EMAIL], min_length=1)


class ReportFollowup(Strict):
    fault: LongText


class Close(Strict):
    summary: LongText
    lessons_learned: LongText


class Reopen(Strict):
    reason: LongText


class MergeInto(Strict):
    primary_complaint_id: ComplaintId


class Withdraw(Strict):
    reason: LongText


class AddNote(Strict):
    text: LongText


ACTION_DATA: dict[Action, type[Strict]] = {
    Action.ACKNOWLEDGE: Acknowledge,
    Action.REQUEST_INFO: RequestInfo,
    Action.CUSTOMER_INFO_RECEIVED: CustomerInfoReceived,
    Action.CUSTOMER_WROTE: CustomerWrote,
    Action.TRANSFER: Transfer,
    Action.RESOLVE_ON_FIRST_CONTACT: ResolveOnFirstContact,
    Action.CAUSE_IDENTIFIED: CauseIdentified,
    Action.PROPOSE_PLAN: ProposePlan,
    Action.MANAGER_APPROVAL: ManagerApproval,
    Action.SEND_RESOLUTION: SendResolution,
    Action.REPORT_FOLLOWUP: ReportFollowup,
    Action.CLOSE: Close,
    Action.REOPEN: Reopen,
    Action.MERGE_INTO: MergeInto,
    Action.WITHDRAW: Withdraw,
    Action.ADD_NOTE: AddNote,
}


class Door(StrEnum):
    """Where an action came in: kept in the timeline for the audit."""

    WEB = "web"
    CLI = "cli"
    SDK = "sdk"
    SIGNAL = "signal"
    EMAIL = "email"
    PORTAL = "portal"
    """The customers' own web pages (`/portal`): what a customer sends there themselves."""


class ActionRequest(Strict):
    """One action as every door sends it. `data` is checked against the action's own model by the lifecycle."""

    request_id: RequestId
    actor: ShortText
    role: Role
    data: dict[str, Any] = Field(default_factory=dict)
    door: Door = Door.SDK

    @field_validator("data")
    @classmethod
    def _data_shape(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Arbitrary JSON from a door, bounded before anything reads it; a refusal is located inside `data`
        (`data.text`), so the door can name the field the way the action's own model would."""
        try:
            check_data_shape(data)
        except TextRefused as refused:
            error = InitErrorDetails(type=refused.as_validation_error(), loc=refused.loc or (), input=data)
            raise ValidationError.from_exception_data(cls.__name__, [error]) from None
        return data
