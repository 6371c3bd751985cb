"""The complaint lifecycle: which action is allowed when and by whom, and what each action and clock does.

One transition function serves every door. The workflow's update validators call `check_action` so a caller
hears why before anything is written; the handlers and signals call `apply_action`, which checks again, so a
signal from a service obeys the same rules. Everything here is pure: time comes in as `now`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ValidationError

from domain.actions import (
    ACTION_DATA,
    Action,
    ActionRequest,
    CauseIdentified,
    Close,
    ManagerApproval,
    MergeInto,
    ProposePlan,
    Reopen,
    RequestInfo,
    Role,
    SendResolution,
    Transfer,
)
from domain.calendar import BUSINESS_TZ
from domain.intake import Channel, Intake, ResolveOnFirstContact
from domain.models import (
    FINAL_STAGES,
    Approval,
    Cause,
    ComplaintState,
    CycleClocks,
    DocumentKind,
    EscalationLevel,
    MergePrimary,
    Notification,
    Recipient,
    Stage,
    TimelineEvent,
    Transition,
)
from domain.policy import POLICY
from domain.refusals import ActionRejected as ActionRejected
from domain.refusals import Refusal

S = Stage
WORKING_STAGES = frozenset({S.RECEIVED, S.ANALYSING, S.AWAITING_CUSTOMER, S.CAUSE_IDENTIFIED})
UNANSWERED_STAGES = WORKING_STAGES | {S.AWAITING_APPROVAL, S.APPROVED}
OPEN_STAGES = UNANSWERED_STAGES | {S.ANSWERED}
STAFF = frozenset({Role.AGENT, Role.MANAGER})
ANYONE = frozenset(Role)
RECEIPT_CHANNELS = frozenset({Channel.EMAIL, Channel.WEB})
"""Where customers write in by themselves, so no agent tells them their case number: they get it by mail at once.
Phone, branch and letter have an agent (and a receipt form); a support ticket's own system answers its customer."""


@dataclass(frozen=True)
class Rule:
    stages: frozenset[Stage]
    roles: frozenset[Role]
    messages_customer: bool = False
    """The action sends the customer a message, which is what the 24-hour first response asks for."""


RULES: dict[Action, Rule] = {
    Action.ACKNOWLEDGE: Rule(frozenset({S.RECEIVED}), STAFF, messages_customer=True),
    Action.REQUEST_INFO: Rule(WORKING_STAGES, STAFF, messages_customer=True),
    Action.CUSTOMER_INFO_RECEIVED: Rule(frozenset({S.AWAITING_CUSTOMER}), ANYONE),
    Action.CUSTOMER_WROTE: Rule(OPEN_STAGES | {S.CLOSED}, frozenset({Role.SYSTEM})),
    Action.TRANSFER: Rule(WORKING_STAGES, STAFF),
    Action.RESOLVE_ON_FIRST_CONTACT: Rule(frozenset({S.RECEIVED, S.ANALYSING}), STAFF, messages_customer=True),
    Action.CAUSE_IDENTIFIED: Rule(frozenset({S.RECEIVED, S.ANALYSING, S.CAUSE_IDENTIFIED}), ANYONE),
    Action.PROPOSE_PLAN: Rule(frozenset({S.CAUSE_IDENTIFIED}), STAFF),
    Action.MANAGER_APPROVAL: Rule(frozenset({S.AWAITING_APPROVAL}), frozenset({Role.MANAGER})),
    Action.SEND_RESOLUTION: Rule(frozenset({S.APPROVED}), STAFF, messages_customer=True),
    Action.REPORT_FOLLOWUP: Rule(OPEN_STAGES, STAFF, messages_customer=True),
    Action.CLOSE: Rule(frozenset({S.ANSWERED}), STAFF),
    Action.REOPEN: Rule(frozenset({S.ANSWERED, S.CLOSED}), STAFF),
    Action.MERGE_INTO: Rule(UNANSWERED_STAGES, STAFF),
    Action.WITHDRAW: Rule(OPEN_STAGES, ANYONE),
    Action.ADD_NOTE: Rule(OPEN_STAGES | {S.CLOSED}, ANYONE),
}


class ClockEvent(StrEnum):
    """What a fired timer did, named as the event kind it records (the values are stored and never change)."""

    FIRST_RESPONSE_REMINDED = "first_response_reminded"
    FIRST_RESPONSE_ESCALATED = "first_response_escalated"
    RESOLUTION_WARNING = "resolution_warning"
    RESOLUTION_BREACHED = "resolution_breached"
    CUSTOMER_REMINDED = "customer_reminded"
    MANAGER_REMINDED = "manager_reminded"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class NextClock:
    at: datetime
    event: ClockEvent


# ---- checking ----


def parse_data(action: Action, request: ActionRequest) -> BaseModel:
    """The action's own data model, or `ActionRejected` naming the field and the problem."""
    try:
        return ACTION_DATA[action].model_validate(request.data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'data'}: {err['msg'].removeprefix('Value error, ')}"
            for err in errors
        )
        first = errors[0]
        context = {key: str(value) for key, value in (first.get("ctx") or {}).items()}
        field = ".".join(str(p) for p in first["loc"]) or "data"
        params = {**context, "action": action.value, "field": field, "problem": first["type"]}
        raise ActionRejected(f"invalid data for {action.value}: {problems}", Refusal.FIELD_INVALID, params) from None


def is_repeat(state: ComplaintState, request: ActionRequest) -> bool:
    """A request id seen before: delivering it again changes nothing (signals come at least once)."""
    return request.request_id in state.applied_requests


def check_action(state: ComplaintState, action: Action, request: ActionRequest) -> BaseModel:
    """Why `action` may not happen now, as `ActionRejected`; else its parsed data."""
    rule = RULES[action]
    if request.role not in rule.roles:
        roles = sorted(r.value for r in rule.roles)
        raise ActionRejected(
            f"{action.value} needs the role {' or '.join(roles)}, not {request.role.value}",
            Refusal.ROLE_REQUIRED,
            {"action": action.value, "roles": roles, "role": request.role.value},
        )
    if state.stage not in rule.stages:
        raise ActionRejected(
            f"{action.value} is not allowed while the complaint is {state.stage.value}",
            Refusal.STAGE_NOT_ALLOWED,
            {"action": action.value, "stage": state.stage.value},
        )
    data = parse_data(action, request)
    if isinstance(data, Transfer) and data.to_department == state.department:
        raise ActionRejected(
            f"transfer: the complaint is already with {state.department}",
            Refusal.ALREADY_WITH_DEPARTMENT,
            {"action": action.value, "department": state.department},
        )
    if isinstance(data, ResolveOnFirstContact) and not data.customer_agreed:
        raise ActionRejected(
            "resolve_on_first_contact: the customer must agree on the spot; otherwise analyse the complaint",
            Refusal.CUSTOMER_MUST_AGREE,
            {"action": action.value},
        )
    if isinstance(data, MergeInto) and data.primary_complaint_id == state.complaint_id:
        raise ActionRejected(
            "merge_into: a complaint cannot be merged into itself", Refusal.MERGE_INTO_ITSELF, {"action": action.value}
        )
    return data


def check_merge(state: ComplaintState, request: ActionRequest, primary: MergePrimary | None) -> None:
    """Whether this complaint may be merged into `primary` (as the record knows it), as `ActionRejected`.

    The primary keeps the earliest receipt, so merging an earlier duplicate moves the deadlines promised to the
    customer earlier, possibly into the past: only a manager may do that."""
    target = MergeInto.model_validate(request.data).primary_complaint_id
    params = {"action": Action.MERGE_INTO.value, "primary": target}
    if primary is None or primary.stage not in OPEN_STAGES:
        raise ActionRejected(
            f"merge_into: complaint {target} is not open (unknown or ended)", Refusal.MERGE_NOT_OPEN, params
        )
    if primary.cycle == 1 and state.received_at < primary.received_at and request.role is not Role.MANAGER:
        raise ActionRejected(
            f"merge_into: this complaint was received before {target}, so merging would move its deadlines "
            "earlier; only a manager may do that",
            Refusal.MERGE_NEEDS_MANAGER,
            params,
        )


def allowed_actions(state: ComplaintState, role: Role | None = None) -> list[Action]:
    """Actions the stage allows now (for `role`, when given): what a form offers and `show` prints."""
    return [
        action for action, rule in RULES.items() if state.stage in rule.stages and (role is None or role in rule.roles)
    ]


# ---- applying ----


def start_state(
    complaint_id: str,
    case_number: str,
    intake: Intake,
    clocks: CycleClocks,
    now: datetime,
) -> Transition:
    """The state right after receipt, with its `received` event; the receipt form unless settled on the spot.
    The receipt is the one the clocks were computed from.

    A customer who wrote in (`RECEIPT_CHANNELS`) with an e-mail address gets an automatic receipt with the case
    number and the resolution due date. It is no first response: the 24-hour clock runs until staff write."""
    state = ComplaintState(
        complaint_id=complaint_id,
        case_number=case_number,
        intake=intake,
        department=intake.department,
        deadlines=clocks.deadlines,
        working_days=clocks.working_days,
    )
    actor, role = (intake.taken_by, Role.AGENT) if intake.taken_by else ("intake", Role.SYSTEM)
    event = _event(state, now, "received", actor, role, "intake", f"received by {intake.channel.value}")
    _append(state, event)
    documents = [] if intake.settled_on_the_spot else [DocumentKind.RECEIPT_FORM]
    notifications = []
    if intake.channel in RECEIPT_CHANNELS and intake.customer.email:
        notifications.append(Notification(recipient=Recipient.CUSTOMER, template="receipt"))
    return Transition(state=state, event=event, notifications=notifications, documents=documents)


def apply_action(
    state: ComplaintState,
    action: Action,
    request: ActionRequest,
    now: datetime,
    new_cycle: CycleClocks | None = None,
) -> Transition:
    """The state after `action`. `new_cycle` carries the fresh clocks a reopen needs (computed by an activity)."""
    data = check_action(state, action, request)
    new = state.model_copy(deep=True)
    notifications: list[Notification] = []
    documents: list[DocumentKind] = []
    summary = action.value.replace("_", " ")

    if RULES[action].messages_customer:
        notifications.append(Notification(recipient=Recipient.CUSTOMER, template=action.value))
        if new.first_responded_at is None:
            new.first_responded_at = now

    if action is Action.ACKNOWLEDGE:
        new.stage = S.ANALYSING
    elif isinstance(data, RequestInfo):
        new.stage = S.AWAITING_CUSTOMER
        new.info_requested_at = now
        new.info_reminders = 0
        summary = "asked the customer for " + ", ".join(item.value for item in data.missing)
    elif action is Action.CUSTOMER_INFO_RECEIVED:
        new.stage = S.CAUSE_IDENTIFIED if new.cause else S.ANALYSING
        new.info_requested_at = None
    elif action is Action.CUSTOMER_WROTE:
        summary = "the customer wrote"
    elif isinstance(data, Transfer):
        summary = f"transferred from {new.department} to {data.to_department}"
        new.department = data.to_department
        notifications.append(
            Notification(recipient=Recipient.DEPARTMENT, department=data.to_department, template="transfer")
        )
    elif isinstance(data, ResolveOnFirstContact):
        new.stage = S.ANSWERED
        new.resolution = data.resolution
        new.resolved_at = now
        documents.append(DocumentKind.RESOLUTION_RECORD)
    elif isinstance(data, CauseIdentified):
        new.stage = S.CAUSE_IDENTIFIED
        new.cause = Cause(cause=data.cause, company_at_fault=data.company_at_fault, departments=data.departments)
        summary = "cause identified" + (" (company at fault)" if data.company_at_fault else "")
    elif isinstance(data, ProposePlan):
        new.stage = S.AWAITING_APPROVAL
        new.plan = data.plan
        new.plan_proposed_at = now
        new.approval_reminders = 0
        new.approval = None
    elif isinstance(data, ManagerApproval):
        new.approval = Approval(approved=data.approved, comment=data.comment, by=request.actor, at=now)
        new.stage = S.APPROVED if data.approved else S.CAUSE_IDENTIFIED
        new.plan_proposed_at = None
        summary = "plan approved" if data.approved else "plan rejected"
    elif isinstance(data, SendResolution):
        new.stage = S.ANSWERED
        new.resolution = data.reply
        new.resolved_at = now
        documents.append(DocumentKind.WRITTEN_REPLY)
        if new.cause and new.cause.company_at_fault:
            documents.append(DocumentKind.FIX_REQUEST)
            notifications.extend(
                Notification(recipient=Recipient.DEPARTMENT, department=department, template="fix_request")
                for department in (new.cause.departments or [new.department])
            )
    elif isinstance(data, Close):
        new.stage = S.CLOSED
        new.closed_at = now
        new.lessons_learned = data.lessons_learned
    elif isinstance(data, Reopen):
        if new_cycle is None:
            raise ValueError("reopen needs the new cycle's deadlines")
        _start_cycle(new, now, new_cycle)
        summary = f"reopened: cycle {new.cycle}"
    elif isinstance(data, MergeInto):
        new.stage = S.MERGED
        new.merged_into = data.primary_complaint_id
        summary = f"merged into {data.primary_complaint_id}"
    elif action is Action.WITHDRAW:
        new.stage = S.WITHDRAWN

    event = _event(
        new, now, action.value, request.actor, request.role, request.door.value, summary, data.model_dump(mode="json")
    )
    _append(new, event)
    new.applied_requests.append(request.request_id)
    return Transition(state=new, event=event, notifications=notifications, documents=documents)


def absorb_duplicate(
    state: ComplaintState,
    duplicate_id: str,
    duplicate_received_at: datetime,
    now: datetime,
    earlier_cycle: CycleClocks | None,
) -> Transition:
    """A duplicate merged into this complaint. The primary keeps the earliest receipt, so its clocks may move
    earlier (`earlier_cycle`, computed by an activity from the duplicate's receipt); never later."""
    new = state.model_copy(deep=True)
    new.duplicates.append(duplicate_id)
    summary = f"duplicate {duplicate_id} merged in"
    if earlier_cycle is not None and new.cycle == 1 and duplicate_received_at < new.received_at:
        new.deadlines, new.working_days = earlier_cycle.deadlines, earlier_cycle.working_days
        summary += "; receipt moved to the duplicate's earlier one"
    event = _event(
        new,
        now,
        "duplicate_merged",
        duplicate_id,
        Role.SYSTEM,
        "signal",
        summary,
        {"duplicate_complaint_id": duplicate_id, "received_at": duplicate_received_at.isoformat()},
    )
    _append(new, event)
    return Transition(state=new, event=event)


def next_clock(state: ComplaintState) -> NextClock | None:
    """The earliest clock still to fire for this state, or None when nothing is left to time."""
    candidates: list[NextClock] = []
    if (
        state.stage in OPEN_STAGES
        and state.first_responded_at is None
        and not state.first_response_reminded
        and not state.first_response_breached
    ):
        at = state.deadlines.first_response_due - POLICY.first_response_reminder_before
        candidates.append(NextClock(at, ClockEvent.FIRST_RESPONSE_REMINDED))
    if state.stage in OPEN_STAGES and state.first_responded_at is None and not state.first_response_breached:
        candidates.append(NextClock(state.deadlines.first_response_due, ClockEvent.FIRST_RESPONSE_ESCALATED))
    if state.stage in OPEN_STAGES and not state.resolution_warned and not state.resolution_breached:
        candidates.append(NextClock(state.deadlines.resolution_warning_at, ClockEvent.RESOLUTION_WARNING))
    if state.stage in OPEN_STAGES and not state.resolution_breached:
        candidates.append(NextClock(state.deadlines.resolution_due, ClockEvent.RESOLUTION_BREACHED))
    if (
        state.stage is S.AWAITING_CUSTOMER
        and state.info_requested_at
        and state.info_reminders < POLICY.max_info_reminders
    ):
        at = working_days_later(
            state, state.info_requested_at, POLICY.info_reminder_working_days * (state.info_reminders + 1)
        )
        candidates.append(NextClock(at, ClockEvent.CUSTOMER_REMINDED))
    if (
        state.stage is S.AWAITING_APPROVAL
        and state.plan_proposed_at
        and state.approval_reminders < POLICY.max_approval_reminders
    ):
        at = working_days_later(
            state, state.plan_proposed_at, POLICY.approval_reminder_working_days * (state.approval_reminders + 1)
        )
        candidates.append(NextClock(at, ClockEvent.MANAGER_REMINDED))
    if state.stage is S.CLOSED and state.closed_at:
        candidates.append(NextClock(state.closed_at + POLICY.reopen_window, ClockEvent.ARCHIVED))
    return min(candidates, key=lambda c: c.at) if candidates else None


def apply_clock(state: ComplaintState, clock: ClockEvent, now: datetime) -> Transition:
    """What a fired timer does: escalate, warn, remind. A breach never closes a complaint."""
    new = state.model_copy(deep=True)
    notifications: list[Notification] = []
    if clock is ClockEvent.FIRST_RESPONSE_REMINDED:
        new.first_response_reminded = True
        notifications.append(
            Notification(recipient=Recipient.DEPARTMENT, department=new.department, template="first_response_reminder")
        )
        summary = "first response due soon: the receiving department reminded"
    elif clock is ClockEvent.FIRST_RESPONSE_ESCALATED:
        new.first_response_breached = True
        new.escalation_level = max(new.escalation_level, EscalationLevel.SUPERVISOR)
        notifications.append(Notification(recipient=Recipient.SUPERVISOR, template="first_response_missed"))
        summary = "no first response within 24 hours: escalated to the customer-care supervisor"
    elif clock is ClockEvent.RESOLUTION_WARNING:
        new.resolution_warned = True
        new.escalation_level = max(new.escalation_level, EscalationLevel.DEPARTMENT_HEAD)
        notifications.append(
            Notification(recipient=Recipient.DEPARTMENT_HEAD, department=new.department, template="resolution_warning")
        )
        summary = f"resolution due {new.deadlines.resolution_due_date.isoformat()}: department head warned"
    elif clock is ClockEvent.RESOLUTION_BREACHED:
        new.resolution_breached = True
        new.resolution_warned = True
        new.escalation_level = EscalationLevel.MANAGER
        notifications.append(Notification(recipient=Recipient.MANAGER, template="resolution_breached"))
        summary = "20 working days passed: escalated to the manager, marked breached"
    elif clock is ClockEvent.CUSTOMER_REMINDED:
        new.info_reminders += 1
        notifications.append(Notification(recipient=Recipient.CUSTOMER, template="info_reminder"))
        summary = f"customer reminded of the requested information ({new.info_reminders})"
    elif clock is ClockEvent.MANAGER_REMINDED:
        new.approval_reminders += 1
        notifications.append(Notification(recipient=Recipient.MANAGER, template="approval_reminder"))
        summary = f"manager reminded of the plan awaiting approval ({new.approval_reminders})"
    else:
        raise ValueError(f"{clock.value} is not a transition")
    event = _event(new, now, clock.value, "clock", Role.SYSTEM, "timer", summary)
    _append(new, event)
    return Transition(state=new, event=event, notifications=notifications)


def working_days_later(state: ComplaintState, instant: datetime, n: int) -> datetime:
    """The same local clock time `n` working days after `instant`, from the cycle's own working days.

    Past the end of the cycle's list (a complaint long overdue) weekdays stand in: a reminder a day off is
    harmless, and the promise to the customer (the deadlines) never depends on it.
    """
    local = instant.astimezone(BUSINESS_TZ)
    later = [d for d in state.working_days if d > local.date()]
    if len(later) >= n:
        day = later[n - 1]
    else:
        day = later[-1] if later else local.date()
        remaining = n - len(later)
        while remaining:
            day += timedelta(days=1)
            if day.weekday() < 5:
                remaining -= 1
    return datetime.combine(day, local.timetz()).astimezone(instant.tzinfo)


def working_days_between(days: Sequence[date], since: date, until: date) -> int:
    """Working days after `since` up to and including `until` (the deadlines' convention: the day of receipt is not
    counted, the due date is the 20th), in a cycle's own sorted working days (`ComplaintState.working_days`), so a
    later calendar change never changes how long a complaint took. Past the end of the list weekdays stand in, as
    in `working_days_later`. The reports' SQL counts the same way (`complaint_working_days_between`)."""
    if until <= since:
        return 0
    if not days or since >= days[-1]:
        return _weekdays_after(since, until)
    if until <= days[-1]:
        return bisect_right(days, until) - bisect_right(days, since)
    return len(days) - bisect_right(days, since) + _weekdays_after(days[-1], until)


def _weekdays_after(since: date, until: date) -> int:
    """Monday to Friday after `since` up to and including `until`."""
    return sum(1 for n in range(1, (until - since).days + 1) if (since + timedelta(days=n)).weekday() < 5)


def _start_cycle(state: ComplaintState, now: datetime, clocks: CycleClocks) -> None:
    state.cycle += 1
    state.stage = S.RECEIVED
    state.deadlines = clocks.deadlines
    state.working_days = clocks.working_days
    state.first_responded_at = None
    state.first_response_reminded = False
    state.first_response_breached = False
    state.resolution_warned = False
    state.resolution_breached = False
    state.escalation_level = EscalationLevel.NONE
    state.info_requested_at = None
    state.plan_proposed_at = None
    state.closed_at = None
    state.approval = None


def _event(
    state: ComplaintState,
    now: datetime,
    kind: str,
    actor: str,
    role: Role | str,
    door: str,
    summary: str,
    data: dict[str, object] | None = None,
) -> TimelineEvent:
    return TimelineEvent(
        seq=state.last_seq + 1,
        at=now,
        kind=kind,
        actor=actor,
        role=str(role),
        door=door,
        cycle=state.cycle,
        summary=summary,
        data=data or {},
    )


def _append(state: ComplaintState, event: TimelineEvent) -> None:
    """Add the event, keeping only the latest `POLICY.timeline_kept` in the state (the record keeps them all)."""
    state.timeline.append(event)
    del state.timeline[: -POLICY.timeline_kept]
    state.last_seq = event.seq


def is_final(state: ComplaintState) -> bool:
    return state.stage in FINAL_STAGES
