"""Which complaints a mail may continue: the read-only lookups of the mail ingress, one round trip each.

A reply names its complaint by the case number in its subject, or by Message-IDs in In-Reply-To / References: one
the outbox sent (`outbox.message_id`) or the customer's own first mail (`complaints.customer_message_id`). The
ingress decides what to make of what is found (`domain.mail_in.route`); this only reads the record.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.mail_in import KnownComplaint

_COLUMNS = """c.complaint_id, c.case_number, c.stage, c.customer->>'email' AS customer_email,
    c.state->>'merged_into' AS merged_into"""

_FIND = f"""
WITH hits AS (
    SELECT complaint_id, true AS by_case_number, 0 AS rank FROM complaints WHERE case_number = ANY($1::text[])
    UNION ALL
    SELECT complaint_id, false, array_position($2::text[], message_id) FROM outbox
    WHERE message_id = ANY($2::text[])
    UNION ALL
    SELECT complaint_id, false, array_position($2::text[], customer_message_id) FROM complaints
    WHERE customer_message_id = ANY($2::text[])
)
SELECT DISTINCT ON (c.complaint_id, h.by_case_number) {_COLUMNS}, h.by_case_number, h.rank
FROM hits h JOIN complaints c USING (complaint_id)
ORDER BY c.complaint_id, h.by_case_number, h.rank
"""

_ONE = f"SELECT {_COLUMNS}, false AS by_case_number FROM complaints c WHERE c.complaint_id = $1"


def _known(row: asyncpg.Record) -> KnownComplaint:
    return KnownComplaint(
        complaint_id=row["complaint_id"],
        case_number=row["case_number"],
        stage=row["stage"],
        customer_email=row["customer_email"],
        merged_into=row["merged_into"],
        by_case_number=row["by_case_number"],
    )


class MailThreads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, case_numbers: Sequence[str], message_ids: Sequence[str]) -> list[KnownComplaint]:
        """The complaints with these case numbers or whose thread holds one of these Message-IDs; thread hits in
        the order of `message_ids` (In-Reply-To first), before case-number hits."""
        if not case_numbers and not message_ids:
            return []
        rows = await self._pool.fetch(_FIND, list(case_numbers), list(message_ids))
        rows = sorted(rows, key=lambda row: (row["by_case_number"], row["rank"] or 0))
        return [_known(row) for row in rows]

    async def complaint(self, complaint_id: str) -> KnownComplaint | None:
        """One complaint as the records know it (a merged complaint's primary)."""
        row = await self._pool.fetchrow(_ONE, complaint_id)
        return None if row is None else _known(row)
