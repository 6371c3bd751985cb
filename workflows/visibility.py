"""What operators see in the Temporal UI: typed search attributes and the current details of a complaint.

Only the case number, stage, department, channel, clocks and escalation: no names, phones, e-mails or words of
the customer, which stay in the encrypted payloads and in Postgres.
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from domain.calendar import local_day_end, local_time
from domain.intake import Intake
from domain.lifecycle import ClockEvent, NextClock
from domain.models import ComplaintState

STAGE = SearchAttributeKey.for_keyword("ComplaintStage")
DEPARTMENT = SearchAttributeKey.for_keyword("Department")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CASE_NUMBER = SearchAttributeKey.for_keyword("CaseNumber")
FIRST_RESPONSE_DUE = SearchAttributeKey.for_datetime("FirstResponseDue")
RESOLUTION_DUE = SearchAttributeKey.for_datetime("ResolutionDue")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")

ALL_KEYS = (STAGE, DEPARTMENT, CHANNEL, CASE_NUMBER, FIRST_RESPONSE_DUE, RESOLUTION_DUE, SLA_BREACHED, ESCALATION_LEVEL)
"""Registered on the dev server by `complaints dev` and in docker-compose."""


def search_attributes(state: ComplaintState) -> list[SearchAttributeUpdate[Any]]:
    return [
        STAGE.value_set(state.stage.value),
        DEPARTMENT.value_set(state.department),
        CHANNEL.value_set(state.intake.channel.value),
        CASE_NUMBER.value_set(state.case_number),
        FIRST_RESPONSE_DUE.value_set(state.deadlines.first_response_due),
        RESOLUTION_DUE.value_set(state.deadlines.resolution_due),
        SLA_BREACHED.value_set(state.first_response_breached or state.resolution_breached),
        ESCALATION_LEVEL.value_set(int(state.escalation_level)),
    ]


def start_attributes(intake: Intake) -> TypedSearchAttributes:
    """Set at start, before the case number exists, so a complaint is findable from its first second."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(STAGE, "received"),
            SearchAttributePair(DEPARTMENT, intake.department),
            SearchAttributePair(CHANNEL, intake.channel.value),
        ]
    )


def static_summary(intake: Intake) -> str:
    return f"Complaint by {intake.channel.value} to {intake.department}"


def current_details(state: ComplaintState) -> str:
    """Markdown for the UI's detail page: where the complaint stands and what it is waiting for (local times)."""
    d = state.deadlines
    flags = []
    if state.first_response_breached:
        flags.append("first response missed")
    if state.resolution_breached:
        flags.append("resolution deadline breached")
    return "\n".join(
        [
            f"**{state.case_number}** · stage `{state.stage.value}` · department `{state.department}`"
            f" · cycle {state.cycle}",
            f"- first response due {local_time(d.first_response_due)}"
            + (f" (met {local_time(state.first_responded_at)})" if state.first_responded_at else ""),
            f"- resolution due {local_day_end(d.resolution_due_date)}",
            f"- escalation level {int(state.escalation_level)} ({state.escalation_level.name.lower()})"
            + (f" · {', '.join(flags)}" if flags else ""),
            "- times in Asia/Ho_Chi_Minh",
        ]
    )


def timer_summary(clock: NextClock, state: ComplaintState) -> str:
    """What a pending timer is for, as the UI lists it (else it would read "1")."""
    match clock.event:
        case ClockEvent.FIRST_RESPONSE_REMINDED:
            return "first-response reminder"
        case ClockEvent.FIRST_RESPONSE_ESCALATED:
            return f"first response due {local_time(clock.at)}"
        case ClockEvent.RESOLUTION_WARNING:
            return f"resolution warning to the department head {local_time(clock.at)}"
        case ClockEvent.RESOLUTION_BREACHED:
            return f"resolution due {local_day_end(state.deadlines.resolution_due_date)}"
        case ClockEvent.CUSTOMER_REMINDED:
            return f"reminder to the customer {local_time(clock.at)}"
        case ClockEvent.MANAGER_REMINDED:
            return f"reminder to the manager {local_time(clock.at)}"
        case ClockEvent.ARCHIVED:
            return f"archive {local_time(clock.at)}"
