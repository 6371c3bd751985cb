"""Names the interface shows for the domain's values. Marked with `N_` for the catalogue; translated on render."""

from __future__ import annotations

from domain.actions import Action, InfoItem, ReplyChannel, Role
from domain.intake import Channel
from domain.lifecycle import ClockEvent
from domain.models import DocumentKind, Stage


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown, in the reader's language."""
    return message


STAGES: dict[str, str] = {
    Stage.RECEIVED: N_("Received"),
    Stage.ANALYSING: N_("Analysing"),
    Stage.AWAITING_CUSTOMER: N_("Awaiting the customer"),
    Stage.CAUSE_IDENTIFIED: N_("Cause identified"),
    Stage.AWAITING_APPROVAL: N_("Awaiting approval"),
    Stage.APPROVED: N_("Plan approved"),
    Stage.ANSWERED: N_("Answered"),
    Stage.CLOSED: N_("Closed"),
    Stage.MERGED: N_("Merged"),
    Stage.WITHDRAWN: N_("Withdrawn"),
}

CUSTOMER_STAGES: dict[str, str] = {
    Stage.RECEIVED: N_("Received: we will contact you soon"),
    "working": N_("We are working on your complaint"),
    Stage.AWAITING_CUSTOMER: N_("We are waiting for information from you"),
    Stage.ANSWERED: N_("We have answered your complaint"),
    Stage.CLOSED: N_("Closed"),
    Stage.MERGED: N_("Handled together with another of your complaints"),
    Stage.WITHDRAWN: N_("Withdrawn at your request"),
}
"""Where a case stands in the customer's words (`web.portal.customer_stage`): staff's steps are not theirs."""

ACTIONS: dict[str, str] = {
    Action.ACKNOWLEDGE: N_("Acknowledge receipt"),
    Action.REQUEST_INFO: N_("Ask the customer for information"),
    Action.CUSTOMER_INFO_RECEIVED: N_("Record the customer's answer"),
    Action.CUSTOMER_WROTE: N_("Record what the customer wrote"),
    Action.TRANSFER: N_("Transfer to another department"),
    Action.RESOLVE_ON_FIRST_CONTACT: N_("Settle on the spot"),
    Action.CAUSE_IDENTIFIED: N_("Record the cause"),
    Action.PROPOSE_PLAN: N_("Propose a resolution plan"),
    Action.MANAGER_APPROVAL: N_("Approve or reject the plan"),
    Action.SEND_RESOLUTION: N_("Send the resolution"),
    Action.REPORT_FOLLOWUP: N_("Follow up a further fault"),
    Action.CLOSE: N_("Close with lessons learned"),
    Action.REOPEN: N_("Reopen (customer disputes)"),
    Action.MERGE_INTO: N_("Merge into another complaint"),
    Action.WITHDRAW: N_("Withdrawn by the customer"),
    Action.ADD_NOTE: N_("Add a note"),
}

EVENTS: dict[str, str] = {
    "received": N_("Complaint received"),
    "duplicate_merged": N_("Duplicate merged in"),
    ClockEvent.FIRST_RESPONSE_ESCALATED: N_("No first response in 24 hours: supervisor told"),
    ClockEvent.RESOLUTION_WARNING: N_("Resolution due soon: department head warned"),
    ClockEvent.RESOLUTION_BREACHED: N_("Resolution deadline passed: escalated to the manager"),
    ClockEvent.CUSTOMER_REMINDED: N_("Customer reminded of the requested information"),
    ClockEvent.MANAGER_REMINDED: N_("Manager reminded of the plan"),
    Action.ACKNOWLEDGE: N_("Receipt acknowledged"),
    Action.REQUEST_INFO: N_("Information requested"),
    Action.CUSTOMER_INFO_RECEIVED: N_("Customer answered"),
    Action.CUSTOMER_WROTE: N_("The customer wrote"),
    Action.TRANSFER: N_("Transferred"),
    Action.RESOLVE_ON_FIRST_CONTACT: N_("Settled on the spot"),
    Action.CAUSE_IDENTIFIED: N_("Cause identified"),
    Action.PROPOSE_PLAN: N_("Plan proposed"),
    Action.MANAGER_APPROVAL: N_("Manager decided on the plan"),
    Action.SEND_RESOLUTION: N_("Resolution sent"),
    Action.REPORT_FOLLOWUP: N_("Further fault followed up"),
    Action.CLOSE: N_("Closed"),
    Action.REOPEN: N_("Reopened"),
    Action.MERGE_INTO: N_("Merged into another complaint"),
    Action.WITHDRAW: N_("Withdrawn"),
    Action.ADD_NOTE: N_("Note"),
}

CHANNELS: dict[str, str] = {
    Channel.BRANCH: N_("At a branch"),
    Channel.PHONE: N_("Hotline"),
    Channel.LETTER: N_("Letter"),
    Channel.EMAIL: N_("E-mail"),
    Channel.SUPPORT_TICKET: N_("Support ticket"),
    Channel.WEB: N_("Website"),
}

INTAKE_CHANNELS = (Channel.PHONE, Channel.BRANCH, Channel.LETTER)
"""The channels an agent types in by hand; e-mail and tickets arrive through their services."""

ROLES: dict[str, str] = {
    "agent": N_("Agent"),
    "manager": N_("Manager"),
    "admin": N_("Administrator"),
    Role.SYSTEM: N_("System"),
}

INFO_ITEMS: dict[str, str] = {
    InfoItem.CONTACT_PERSON: N_("Contact person"),
    InfoItem.EMAIL: N_("E-mail address"),
    InfoItem.PHONE: N_("Phone number"),
    InfoItem.DOCUMENTS: N_("Documents"),
    InfoItem.LOGS: N_("Logs, transaction history"),
    InfoItem.OTHER: N_("Other"),
}

REPLY_CHANNELS: dict[str, str] = {
    ReplyChannel.DIRECT: N_("Directly"),
    ReplyChannel.EMAIL: N_("E-mail"),
    ReplyChannel.SUPPORT_TICKET: N_("Support ticket"),
    ReplyChannel.LETTER: N_("Letter"),
}

DOCUMENTS: dict[str, str] = {
    DocumentKind.RECEIPT_FORM: N_("Receipt form"),
    DocumentKind.RESOLUTION_RECORD: N_("Resolution record"),
    DocumentKind.WRITTEN_REPLY: N_("Written reply"),
    DocumentKind.FIX_REQUEST: N_("Fix request"),
}

FIELDS: dict[str, str] = {
    # intake
    "channel": N_("Channel"),
    "customer.name": N_("Customer name"),
    "customer.phone": N_("Phone"),
    "customer.email": N_("E-mail"),
    "customer.address": N_("Address"),
    "customer.contact_person": N_("Contact person"),
    "subject": N_("Subject"),
    "description": N_("Description"),
    "service": N_("Service"),
    "department": N_("Receiving department"),
    "received_at": N_("Received at (for a letter)"),
    # actions
    "message": N_("Message to the customer"),
    "missing": N_("What is missing"),
    "summary": N_("Summary"),
    "to_department": N_("To department"),
    "reason": N_("Reason"),
    "resolution": N_("Resolution"),
    "customer_agreed": N_("The customer agrees"),
    "cause": N_("Cause"),
    "company_at_fault": N_("The company is at fault"),
    "departments": N_("Departments concerned"),
    "plan": N_("Plan"),
    "approved": N_("Decision"),
    "comment": N_("Comment"),
    "reply": N_("Reply to the customer"),
    "channels": N_("Reply by"),
    "fault": N_("Further fault"),
    "lessons_learned": N_("Lessons learned"),
    "primary_case_number": N_("Case number of the complaint to keep"),
    "primary_complaint_id": N_("Complaint to keep"),
    "text": N_("Note"),
    "attachments": N_("Attachments"),
}
