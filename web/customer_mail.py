"""Unread customer mail: which messages from customers staff have seen. UI state, kept by the web app beside the
record (`customer_mail_seen`), never in the workflow: seeing a message changes nothing in the complaint's process.

The record write keeps where each customer last wrote (`complaints.customer_wrote_seq`); the inbox marks a
complaint while that is past what staff have seen (`ComplaintQueries.inbox`).
"""

from __future__ import annotations

import asyncpg

_MARK_SEEN = """
INSERT INTO customer_mail_seen AS s (complaint_id, seen_seq, seen_by)
SELECT complaint_id, customer_wrote_seq, $2 FROM complaints
WHERE complaint_id = $1 AND customer_wrote_seq IS NOT NULL
ON CONFLICT (complaint_id) DO UPDATE SET seen_seq = EXCLUDED.seen_seq, seen_by = EXCLUDED.seen_by, seen_at = now()
WHERE s.seen_seq < EXCLUDED.seen_seq
"""


async def mark_customer_mail_seen(pool: asyncpg.Pool, complaint_id: str, username: str) -> None:
    """Everything the customer wrote so far is seen: called before the complaint page reads its conversation, so
    what is marked seen is on the page (a message arriving meanwhile is shown and stays unread, never the reverse).
    Only ever forward, and a write only when there is something new, so opening a page is mostly a read."""
    await pool.execute(_MARK_SEEN, complaint_id, username)
