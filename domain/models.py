"""The state the workflow keeps for one complaint, its timeline, and what its activities are given and return.

Plain pydantic models with no I/O, so the workflow sandbox, the activities, the client and the web form all
validate the same way and speak the same JSON. What comes in is in `domain.intake` and `domain.actions`; the
fields they are all made of in `domain.fields`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import AwareDatetime, Field, model_validator

from domain.deadlines import Deadlines
from domain.fields import Recorded, Strict
from domain.intake import Channel, Intake


class Stage(StrEnum):
    RECEIVED = "received"
    ANALYSING = "analysing"
    AWAITING_CUSTOMER = "awaiting_customer"
    CAUSE_IDENTIFIED = "cause_identified"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    ANSWERED = "answered"
    CLOSED = "closed"
    MERGED = "merged"
    WITHDRAWN = "withdrawn"


FINAL_STAGES = frozenset({Stage.MERGED, Stage.WITHDRAWN})
"""Stages a workflow ends in at once. A closed complaint still waits for a reopen until its window passes."""


class EscalationLevel(IntEnum):
    """How far up a complaint has gone in its current cycle; only ever rises within a cycle."""

    NONE = 0
    SUPERVISOR = 1
    """First response missed: the customer-care supervisor is told."""
    DEPARTMENT_HEAD = 2
    """Resolution due in 3 working days: the resolving department's head is warned."""
    MANAGER = 3
    """Resolution deadline passed: the manager takes it over and the complaint is marked breached."""


class Cause(Strict):
    cause: str
    company_at_fault: bool
    departments: list[str]


class Approval(Strict):
    approved: bool
    comment: str | None
    by: str
    at: AwareDatetime


class TimelineEvent(Strict):
    """One line of the complaint's history. `seq` is its position: the key that makes persisting idempotent."""

    seq: int
    at: AwareDatetime
    kind: str
    """An action's name, or a clock event (`received`, `first_response_escalated`, `resolution_warning`, ...)."""
    actor: str
    role: str
    door: str
    cycle: int
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class ComplaintState(Recorded):
    """Everything the workflow knows about one complaint; the Postgres snapshot is derived from it."""

    complaint_id: str
    case_number: str
    intake: Intake
    stage: Stage = Stage.RECEIVED
    department: str
    cycle: int = 1
    deadlines: Deadlines
    """This cycle's clocks, from its `received_at`."""
    working_days: list[date] = Field(default_factory=list)
    """The working days of this cycle's window, computed with the deadlines, so reminders need no I/O."""
    first_responded_at: AwareDatetime | None = None
    first_response_reminded: bool = False
    first_response_breached: bool = False
    resolution_warned: bool = False
    resolution_breached: bool = False
    escalation_level: EscalationLevel = EscalationLevel.NONE
    info_requested_at: AwareDatetime | None = None
    info_reminders: int = 0
    plan_proposed_at: AwareDatetime | None = None
    approval_reminders: int = 0
    cause: Cause | None = None
    plan: str | None = None
    approval: Approval | None = None
    resolution: str | None = None
    resolved_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    lessons_learned: str | None = None
    merged_into: str | None = None
    duplicates: list[str] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)
    """The latest events (at most `POLICY.timeline_kept`): the whole history is the record's (`complaint_events`),
    so a complaint that collects thousands of notes keeps its state, and its workflow history, bounded."""
    last_seq: int = 0
    """Position of the latest event: the next one's `seq` is this plus one, however much of the timeline is kept."""
    applied_requests: list[str] = Field(default_factory=list)

    @property
    def received_at(self) -> datetime:
        """Start of the current cycle's clocks: the receipt (the earliest, after a merge), or the reopen. Kept once,
        in the cycle's deadlines; the intake keeps what its sender said."""
        return self.deadlines.received_at

    @model_validator(mode="after")
    def _last_seq_from_timeline(self) -> ComplaintState:
        """States recorded before `last_seq` existed carry their whole timeline: take the position from it."""
        if self.timeline and self.last_seq < self.timeline[-1].seq:
            self.last_seq = self.timeline[-1].seq
        return self

    @property
    def open(self) -> bool:
        return self.stage not in FINAL_STAGES and self.stage is not Stage.CLOSED

    def without_history(self) -> ComplaintState:
        """The state without its timeline and request ids: what activity inputs, update results and the Postgres
        snapshot carry. Each of those lands in the workflow history, so carrying the history in them would make
        it grow with the square of the number of events."""
        return self.model_copy(update={"timeline": [], "applied_requests": []})


class Recipient(StrEnum):
    CUSTOMER = "customer"
    SUPERVISOR = "supervisor"
    DEPARTMENT_HEAD = "department_head"
    MANAGER = "manager"
    DEPARTMENT = "department"


class Notification(Strict):
    """A message the transition sends; written to the outbox in the same transaction as the event."""

    recipient: Recipient
    department: str | None = None
    template: str
    """Name of the Vietnamese template under activities/templates/messages/."""


class DocumentKind(StrEnum):
    RECEIPT_FORM = "receipt_form"
    """Phiếu tiếp nhận khiếu nại."""
    RESOLUTION_RECORD = "resolution_record"
    """Biên bản: a complaint settled on the spot with both sides agreeing."""
    WRITTEN_REPLY = "written_reply"
    """Văn bản trả lời khiếu nại."""
    FIX_REQUEST = "fix_request"
    """Yêu cầu khắc phục to the departments concerned when the company is at fault."""


class CycleClocks(Strict):
    """A cycle's promised deadlines and its working days (so reminders need no calendar I/O in the workflow)."""

    deadlines: Deadlines
    working_days: list[date]


class RegisterComplaint(Recorded):
    """The first activity's input: enough to allocate the case number and record the receipt."""

    complaint_id: str
    workflow_id: str
    intake: Intake
    received_at: AwareDatetime
    now: AwareDatetime


class MergePrimary(Strict):
    """What a duplicate needs to know of the complaint it is merged into, read from the record before the merge."""

    complaint_id: str
    stage: Stage
    cycle: int
    received_at: AwareDatetime


class MergeNotice(Strict):
    """Sent by a duplicate to its primary when it is merged."""

    duplicate_complaint_id: str
    duplicate_case_number: str
    received_at: AwareDatetime
    request_id: str


class Transition(Strict):
    """What one action or clock event did: the new state, its timeline event, and the side effects to record."""

    state: ComplaintState
    event: TimelineEvent
    notifications: list[Notification] = Field(default_factory=list)
    documents: list[DocumentKind] = Field(default_factory=list)


class TransitionRecord(Strict):
    """The `record_transition` activity's input: one transition of one run."""

    workflow_id: str
    transition: Transition


class ComplaintInput(Recorded):
    """The workflow's input. `carried` holds the whole state when the run continues as new."""

    complaint_id: str
    intake: Intake
    carried: ComplaintState | None = None


class ComplaintSummary(Strict):
    """One row of `complaints list`: what an inbox shows, read from Postgres."""

    complaint_id: str
    case_number: str
    stage: Stage
    department: str
    channel: Channel
    subject: str
    cycle: int
    received_at: AwareDatetime
    first_response_due: AwareDatetime
    resolution_due: AwareDatetime
    resolution_due_date: date
    first_response_breached: bool
    resolution_breached: bool
    escalation_level: int
    updated_at: AwareDatetime
