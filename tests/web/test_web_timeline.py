"""Big complaints stay usable (issue 10, row 9): a complaint with 10,000 notes rendered 53 MB of HTML. Its page
now shows one bounded page of the timeline, newest first, and the older pages are a link away."""

from __future__ import annotations

import re

import asyncpg
import pytest
from web_support import SignIn, act, take_in

from activities.queries import ComplaintQueries
from web.routes.complaints import TIMELINE_PAGE_SIZE

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

NOTES = 10_000
PAGE_BYTES_BOUND = 300_000

NOTES_SQL = """
INSERT INTO complaint_events (complaint_id, seq, at, kind, actor, role, door, cycle, summary, data)
SELECT $1, $2 + n, now() - interval '1 day' + n * interval '1 second', 'add_note', 'agent.lan', 'agent', 'web', 1,
       'note added', jsonb_build_object('text', 'ghi chú số ' || n || ' ' || repeat('nội dung ', 40))
FROM generate_series(1, $3::int) AS n
"""


async def test_a_complaint_with_ten_thousand_notes_pages_its_timeline(
    signed_in: SignIn, pool: asyncpg.Pool, queries: ComplaintQueries
) -> None:
    agent = await signed_in("agent")
    complaint_id = await take_in(agent)
    # Withdrawn first, so the workflow writes nothing more to the timeline the notes go into below.
    assert (await act(agent, complaint_id, "withdraw", {"reason": "khách hàng rút lại"})).status_code == 303
    last_seq = await pool.fetchval("SELECT max(seq) FROM complaint_events WHERE complaint_id = $1", complaint_id)
    await pool.execute(NOTES_SQL, complaint_id, last_seq, NOTES)
    total = last_seq + NOTES
    pages = -(-total // TIMELINE_PAGE_SIZE)

    newest = await agent.get(f"/complaints/{complaint_id}")
    assert newest.status_code == 200
    assert len(newest.content) < PAGE_BYTES_BOUND, len(newest.content)
    assert newest.text.count('class="event kind-') == TIMELINE_PAGE_SIZE
    assert f"ghi chú số {NOTES} " in newest.text  # the newest note first
    first_shown = re.search(r"ghi chú số (\d+) ", newest.text)
    assert first_shown and first_shown.group(1) == str(NOTES)
    assert f"ghi chú số {NOTES - TIMELINE_PAGE_SIZE} " not in newest.text
    assert "khách hàng rút lại" not in newest.text  # the withdrawal is on the last page, with the receipt

    older_link = re.search(r'href="([^"]+)" rel="next"', newest.text)
    assert older_link, "a link to older events"
    older = await agent.get(older_link.group(1).replace("&amp;", "&"))
    assert older.status_code == 200
    assert f"ghi chú số {NOTES - TIMELINE_PAGE_SIZE} " in older.text
    assert f"ghi chú số {NOTES} " not in older.text
    assert re.search(r'href="[^"]*" rel="prev"', older.text), "and back to newer ones"

    oldest = await agent.get(f"/complaints/{complaint_id}?page={pages}")
    assert oldest.status_code == 200
    assert "khách hàng rút lại" in oldest.text
    assert 'class="event kind-received"' in oldest.text
    assert 'rel="next"' not in oldest.text
    assert (await agent.get(f"/complaints/{complaint_id}?page={pages + 1}")).status_code == 404

    page = await queries.timeline_page(complaint_id, 2, TIMELINE_PAGE_SIZE)
    assert page.total == total and page.pages == pages
    size = TIMELINE_PAGE_SIZE
    assert [event.seq for event in page.events] == list(range(total - size, total - 2 * size, -1))
