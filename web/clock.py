"""How much time is left to a due instant, in words, and how urgent it looks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.calendar import BUSINESS_TZ
from web.i18n import Translator

SOON = timedelta(hours=24)


@dataclass(frozen=True)
class TimeLeft:
    text: str
    tone: str
    """`ok`, `soon` (under a day), `overdue` (past due) or `breached` (the workflow marked it)."""


def span(delta: timedelta, tr: Translator) -> str:
    """`3 d 4 h`, `5 h 20 min`, `12 min`: two units at most, enough to act on."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return tr.gettext("%(days)s d %(hours)s h", days=days, hours=hours)
    if hours:
        return tr.gettext("%(hours)s h %(minutes)s min", hours=hours, minutes=mins)
    return tr.gettext("%(minutes)s min", minutes=mins)


def time_left(due: datetime, now: datetime, tr: Translator, *, breached: bool = False) -> TimeLeft:
    delta = due - now
    if delta.total_seconds() <= 0:
        text = tr.gettext("%(span)s overdue", span=span(delta, tr))
        return TimeLeft(text, "breached" if breached else "overdue")
    text = tr.gettext("%(span)s left", span=span(delta, tr))
    return TimeLeft(text, "breached" if breached else ("soon" if delta <= SOON else "ok"))


def local_time(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).strftime("%d/%m/%Y %H:%M")
