"""The conversation with the customer, as the complaint page shows it: what came in and what went out, in order.

Read-only, from the record alone: in, the complaint itself when the customer wrote it (by e-mail or on the web) and
the timeline's answers and messages from the customer, each with the files it brought; out, the outbox's messages
to the customer as they were written, with when they went. Ordered by the timeline position each belongs to, which is
the order things happened (a message out follows the event that wrote it). One statement; the timeline's and the
outbox's keys, both led by the complaint id, serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from domain.actions import Action
from domain.attachments import AttachmentRef
from domain.lifecycle import RECEIPT_CHANNELS
from domain.models import Recipient

CUSTOMER_MESSAGES = (Action.CUSTOMER_WROTE.value, Action.CUSTOMER_INFO_RECEIVED.value)
"""Timeline events that carry the customer's words (an answer may also be an agent's summary of a call)."""
WRITTEN_IN_CHANNELS = sorted(channel.value for channel in RECEIPT_CHANNELS)
"""Channels where the complaint's text is the customer's own message (the others were typed by an agent)."""
CONVERSATION_LIMIT = 200
"""Messages one page shows, the latest: a conversation longer than that is read in the record."""

_CONVERSATION = """
SELECT * FROM (
    SELECT 'in' AS direction, e.seq, 0 AS part, coalesce((c.state #>> '{intake,received_at}')::timestamptz, e.at) AS at,
        e.kind, e.role, e.door, c.state #>> '{intake,subject}' AS subject, c.state #>> '{intake,description}' AS text,
        coalesce(c.state #> '{intake,attachments}', '[]'::jsonb) AS attachments,
        NULL AS medium, NULL::timestamptz AS sent_at
    FROM complaints c JOIN complaint_events e ON e.complaint_id = c.complaint_id AND e.seq = 1
    WHERE c.complaint_id = $1 AND c.channel = ANY($2::text[])
    UNION ALL
    SELECT 'in', e.seq, 0, e.at, e.kind, e.role, e.door, e.data ->> 'subject',
        coalesce(e.data ->> 'text', e.data ->> 'summary', ''), coalesce(e.data -> 'attachments', '[]'::jsonb),
        NULL, NULL
    FROM complaint_events e
    WHERE e.complaint_id = $1 AND e.kind = ANY($3::text[])
    UNION ALL
    SELECT 'out', o.event_seq, o.id, e.at, o.template, NULL, NULL, o.subject, o.body, '[]'::jsonb, o.medium, o.sent_at
    FROM outbox o JOIN complaint_events e ON e.complaint_id = o.complaint_id AND e.seq = o.event_seq
    WHERE o.complaint_id = $1 AND o.recipient = $4
) message
ORDER BY seq DESC, part DESC
LIMIT $5
"""


@dataclass(frozen=True)
class ConversationMessage:
    """One message of the conversation. In: `kind` is the event (`received`, `customer_wrote`, ...), `door` where it
    came from. Out: `kind` is the message's template, `medium` how it goes, `sent_at` None while it waits."""

    direction: Literal["in", "out"]
    seq: int
    at: datetime
    kind: str
    subject: str | None
    text: str
    attachments: list[AttachmentRef]
    role: str | None = None
    door: str | None = None
    medium: str | None = None
    sent_at: datetime | None = None

    @property
    def from_customer(self) -> bool:
        """The customer's own words (not an agent's summary of what they said)."""
        return self.direction == "in" and (self.kind == "received" or self.role == "system")


def _message(row: asyncpg.Record) -> ConversationMessage:
    values: dict[str, Any] = dict(row)
    values.pop("part")
    values["attachments"] = [AttachmentRef.model_validate(ref) for ref in values["attachments"] or []]
    return ConversationMessage(**values)


class ConversationQueries:
    """A complaint's conversation, read from the record."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def conversation(self, complaint_id: str, limit: int = CONVERSATION_LIMIT) -> list[ConversationMessage]:
        """The latest `limit` messages in and out, oldest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _CONVERSATION,
                complaint_id,
                WRITTEN_IN_CHANNELS,
                list(CUSTOMER_MESSAGES),
                Recipient.CUSTOMER.value,
                limit,
            )
        return [_message(row) for row in reversed(rows)]
