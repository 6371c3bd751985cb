"""Policy settings: the company's numbers that are not the law's clocks (those live in `domain.deadlines`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Policy:
    first_response_reminder_before: timedelta = timedelta(hours=4)
    """The receiving department is reminded this long before the 24-hour first response falls due."""
    info_reminder_working_days: int = 2
    """The customer is reminded after this many working days without the requested information."""
    max_info_reminders: int = 3
    approval_reminder_working_days: int = 1
    """A manager is reminded after this many working days without a decision on a plan."""
    max_approval_reminders: int = 5
    reopen_window: timedelta = timedelta(days=30)
    """How long a closed complaint can still be reopened by the customer's dispute before its run ends."""
    receipt_window: timedelta = timedelta(days=60)
    """How long before now a receipt may lie: fits a letter arriving late and entered by hand. Earlier is refused
    (a typo in the year would make a complaint overdue and escalated at once); `COMPLAINTS_RECEIPT_WINDOW_DAYS`."""
    timeline_kept: int = 25
    """Events the workflow keeps in memory (and carries across continue-as-new); the record keeps them all. An
    event holds at most two texts of 5,000 characters (40 kB at 4 bytes a character), so 25 keep the state a run
    carries over well under Temporal's 2 MB payload limit."""


POLICY = Policy()
