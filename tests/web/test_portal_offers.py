"""Which forms a customer is offered on their case: pure rules, no servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.records import cycle_clocks
from domain.calendar import WorkingCalendar
from domain.intake import Intake
from domain.lifecycle import start_state
from domain.models import ComplaintState, Stage
from domain.policy import POLICY
from web.portal import offered_forms

RECEIVED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def complaint(stage: Stage, closed_at: datetime | None = None) -> ComplaintState:
    intake = Intake.model_validate(
        {"customer": {"name": "Khách", "phone": "0901234567"}, "channel": "web", "subject": "Web", "description": "x"}
    )
    state = start_state("c1", "KN-2026-000001", intake, cycle_clocks(RECEIVED, WorkingCalendar()), RECEIVED).state
    return state.model_copy(update={"stage": stage, "closed_at": closed_at})


@pytest.mark.parametrize(
    ("stage", "offered"),
    [
        (Stage.RECEIVED, ["withdraw"]),
        (Stage.ANALYSING, ["withdraw"]),
        (Stage.AWAITING_CUSTOMER, ["answer", "withdraw"]),
        (Stage.AWAITING_APPROVAL, ["withdraw"]),
        (Stage.ANSWERED, ["disagree", "withdraw"]),
        (Stage.WITHDRAWN, []),
        (Stage.MERGED, []),
    ],
)
def test_each_stage_offers_what_the_customer_may_do(stage: Stage, offered: list[str]) -> None:
    assert offered_forms(complaint(stage), RECEIVED + timedelta(days=1)) == offered


def test_a_closed_complaint_can_be_disputed_only_within_the_reopen_window() -> None:
    closed_at = RECEIVED + timedelta(days=10)
    closed = complaint(Stage.CLOSED, closed_at)
    assert offered_forms(closed, closed_at + POLICY.reopen_window - timedelta(minutes=1)) == ["disagree"]
    assert offered_forms(closed, closed_at + POLICY.reopen_window) == []
