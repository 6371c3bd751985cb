"""The inbox works at 10,000 complaints: every filter answers and paging reaches the last page.

How fast it is, is measured by `uv run python bench/web_inbox.py` (ratios against 100 complaints in the same
run), not here: a timed test on a shared 2-core machine would only be noise.
"""

from __future__ import annotations

import asyncpg
import pytest
from web_support import SignIn, seed_complaints

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

COMPLAINTS = 10_000


async def test_inbox_pages_with_10000_complaints(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    await seed_complaints(pool, COMPLAINTS)
    agent = await signed_in("agent")
    for params in (
        {},
        {"q": "nguyễn văn khách 99"},
        {"stage": "all", "page": "300"},
        {"channel": "letter", "department": "billing"},
        {"q": "KN-2025-9050"},
    ):
        response = await agent.get("/", params=params)
        assert response.status_code == 200, params
    last = await agent.get("/", params={"stage": "all", "page": "400"})
    assert "Trang 400 / 400" in last.text
