"""The complaint's data: what comes in at intake, what every action carries, and the state the workflow keeps.

Plain pydantic models with no I/O, so the workflow sandbox, the activities, the client and the web form all
validate the same way and speak the same JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from domain.deadlines import EARLIEST_RECEIPT, LATEST_RECEIPT, Deadlines, check_receipt_in_calendar
from domain.policy import POLICY
from domain.text import TextRefused, check_data_shape, email_address, long_text, short_text

MAX_DESCRIPTION_CHARS = 10_000
MAX_TEXT_CHARS = 5_000
MAX_SHORT_TEXT_CHARS = 200
MAX_ADDRESS_CHARS = 500
MAX_EMAIL_CHARS = 254
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a `received_at` may lie before it counts as a mistake (clocks of other services drift)."""


class Channel(StrEnum):
    BRANCH = "branch"
    PHONE = "phone"
    LETTER = "letter"
    EMAIL = "email"
    SUPPORT_TICKET = "support_ticket"
    WEB = "web"


class Role(StrEnum):
    """Who acts. `system` is another service (email ingestion, a department's tool) sending an event."""

    AGENT = "agent"
    MANAGER = "manager"
    SYSTEM = "system"


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


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REQUEST_INFO = "request_info"
    CUSTOMER_INFO_RECEIVED = "customer_info_received"
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


READING_RECORD: ContextVar[bool] = ContextVar("reading_record", default=False)
"""True while a recorded value is read back (a workflow's input, its carried state, an activity's input): see
`Recorded`."""


def _text_policy(policy: Callable[[str], str]) -> Callable[[Any], Any]:
    """A pydantic validator applying a `domain.text` policy before anything else sees the text: a refusal is a
    validation error whose type is the policy's code, and the field's length limits then judge the normalised
    text (NFC may change its length; trimming is the policy's, so a trailing control character is refused
    rather than silently trimmed)."""

    def validate(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):  # pydantic would decode them after this check: decode first
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                return value  # pydantic refuses it as not a valid string
        if not isinstance(value, str):
            return value  # pydantic refuses it as not a string
        try:
            return policy(value)
        except TextRefused as refused:
            if READING_RECORD.get():
                return value  # accepted at its door under an older policy: read it back as it was written
            raise refused.as_validation_error() from None

    return validate


ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SHORT_TEXT_CHARS),
    BeforeValidator(_text_policy(short_text)),
]
"""A name, subject or label: one line of visible characters (see `domain.text`)."""
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS), BeforeValidator(_text_policy(long_text))
]
"""A note, reply or reason: lines and tabs kept, controls and direction overrides refused."""
Description = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_DESCRIPTION_CHARS),
    BeforeValidator(_text_policy(long_text)),
]
Address = Annotated[str, StringConstraints(max_length=MAX_ADDRESS_CHARS), BeforeValidator(_text_policy(long_text))]
"""A postal address may take several lines, as it is written on a letter."""
# The one definition of each identifier's shape. The pydantic types below use these, and code that checks a value
# outside a model (a URL path, a search box, a query parameter) calls `fullmatch` on them, so the web form, the
# CLI and the workflow can never disagree about which ids can exist.
COMPLAINT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""Letters, digits, `.`, `_`, `-`: a ticket number or a hash of a Message-ID, never an e-mail address or a name."""
DEPARTMENT_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,39}")
"""A department's code as stored and sent (`customer_care`), not its name: lower-case ASCII, so it is safe in a
URL, a search attribute and a setting's name."""
CASE_NUMBER_PATTERN = re.compile(r"KN-[0-9]{4}-[0-9]{6,}")
"""`KN-<local year of receipt>-<sequence, at least 6 digits>`, as the record store numbers complaints (a seventh
digit once the sequence passes 999,999); ASCII digits only, so digits of another script are searched as text,
not looked up as a case number."""
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""An action's idempotency key (`web:<hex>`, a uuid's hex): short and plain, as it is logged and stored."""


def _whole(pattern: re.Pattern[str]) -> str:
    """The pattern for pydantic: its regex engine searches, so it is anchored to accept what `fullmatch` accepts
    (pydantic's `$`, unlike Python's, does not let a trailing newline through)."""
    return f"^{pattern.pattern}$"


Department = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=_whole(DEPARTMENT_CODE_PATTERN)),
]
ComplaintId = Annotated[str, StringConstraints(pattern=_whole(COMPLAINT_ID_PATTERN))]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ().-]{6,20}$")]
Email = Annotated[str, StringConstraints(max_length=MAX_EMAIL_CHARS), BeforeValidator(_text_policy(email_address))]
"""Exactly one address, in its normalised form: `a@b.vn,bob` would send the customer's messages to two people."""
RequestId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_whole(REQUEST_ID_PATTERN))]


class Strict(BaseModel):
    """Unknown fields are mistakes a caller should hear about, not silently drop."""

    model_config = ConfigDict(extra="forbid")


class Recorded(Strict):
    """A value Temporal has recorded and hands back: a workflow's input (replayed from its history), its carried
    state, an activity's input. Its texts passed the text policy at their door, possibly an older, laxer one;
    refusing them when they are read back would fail every later workflow task or activity of that complaint, so
    inside a recorded value the text policy reads texts as they were written. Doors validate `Intake` and
    `ActionRequest` themselves, strictly; receipt dates stay bounded everywhere (they feed the clocks)."""

    @model_validator(mode="wrap")
    @classmethod
    def _as_recorded(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        token = READING_RECORD.set(True)
        try:
            return handler(data)
        finally:
            READING_RECORD.reset(token)


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
    department: Department = "customer_care"
    """The receiving department."""
    taken_by: ShortText | None = None
    """The agent who took it in (at a branch, on the phone): the actor of the receipt in the timeline."""
    settled_on_the_spot: ResolveOnFirstContact | None = None
    """Made in person and settled at once, both sides agreeing: no receipt form, a resolution record instead."""

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


# ---- action data: one model per action; `ACTION_DATA` maps each action to its model ----


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


class CustomerInfoReceived(Strict):
    summary: LongText


class Transfer(Strict):
    to_department: Department
    reason: LongText


class CauseIdentified(Strict):
    cause: LongText
    company_at_fault: bool
    departments: list[Department] = Field(default_factory=list, max_length=20)
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


# ---- state ----


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
    received_at: AwareDatetime
    """Start of the current cycle's clocks: the receipt (the earliest, after a merge), or the reopen."""
    deadlines: Deadlines
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
