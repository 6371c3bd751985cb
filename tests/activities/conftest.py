"""Fixtures of the activity tests (the database ones are in tests/conftest.py)."""

from __future__ import annotations

import asyncpg
import pytest
from complaint_builders import SETTINGS, Complaints

from activities.queries import ComplaintQueries
from activities.records import ComplaintRecords
from domain.calendar import WorkingCalendar


@pytest.fixture
def records(pool: asyncpg.Pool) -> ComplaintRecords:
    return ComplaintRecords(pool, WorkingCalendar(), SETTINGS)


@pytest.fixture
def queries(pool: asyncpg.Pool) -> ComplaintQueries:
    return ComplaintQueries(pool)


@pytest.fixture
def complaints(records: ComplaintRecords, queries: ComplaintQueries) -> Complaints:
    return Complaints(records, queries)
