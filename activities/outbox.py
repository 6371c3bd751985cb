"""Deliver the outbox: the messages that transitions wrote in their own transactions.

Delivery is at least once: a row is marked sent after the message went out, in the transaction that claimed
it, so a crash in between sends it again on the next round (each message carries a stable Message-ID, made
from the row alone, so a mail system can drop the repeat). Several senders may run at once: `FOR UPDATE SKIP
LOCKED` gives each its own rows. A failed delivery is retried later with a growing pause, up to `max_attempts`.

Logs name the outbox row, the complaint, the template and the kind of recipient, never an address, a name
or a message text: those are personal data and stay in Postgres.

Mail keeps a complaint's thread together in the recipient's mail program (`domain.mail_thread`): the case number
tagged once in the subject, and In-Reply-To / References naming the messages this recipient got before (and, once
mail comes in, the customer's own first message, `complaints.customer_message_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import hashlib
import math
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Literal, Protocol

import asyncpg
import asyncpg.pool
import structlog

from activities.metrics import ComplaintMetrics
from domain.mail_thread import references, tagged_subject

log = structlog.get_logger(__name__)

RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 3600.0
BACKLOG_INTERVAL_SECONDS = 30.0
"""How often a running sender counts the outbox backlog for `complaints_outbox_pending` (one indexed count)."""


class Transport(Protocol):
    """Something that puts an e-mail on its way; `name` is recorded in `outbox.delivered_via`."""

    @property
    def name(self) -> str: ...

    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    """Stdlib SMTP in a worker thread: simple, dependency-free, and one connection per message is plenty here."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """Kept out of the repr, so a logged transport never shows it."""
    security: Literal["none", "starttls", "ssl"] = "none"
    """`ssl` is implicit TLS (usually port 465)."""
    timeout: float = 30.0
    name: str = "smtp"

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


_CLAIM = """
SELECT o.id, o.complaint_id, o.event_seq, o.recipient, o.template, o.medium, o.address, o.subject, o.body,
    o.attempts, c.case_number, c.customer->>'name' AS customer_name, c.customer_message_id
FROM outbox o LEFT JOIN complaints c USING (complaint_id)
WHERE o.sent_at IS NULL AND o.next_attempt_at <= now() AND o.attempts < $2
ORDER BY o.next_attempt_at, o.id
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""

_EARLIER = """
SELECT message_id FROM outbox
WHERE complaint_id = $1 AND recipient = $2 AND address = $3 AND message_id IS NOT NULL AND id < $4
ORDER BY id
"""
"""The messages this recipient already got about the complaint, oldest first: what the next one replies to."""

_PENDING = "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND attempts < $1"

_MARK_SENT = """
UPDATE outbox SET sent_at = now(), delivered_via = $2, message_id = $3, attempts = attempts + 1, last_error = NULL
WHERE id = $1
"""

_MARK_FAILED = """
UPDATE outbox SET attempts = attempts + 1, last_error = $2,
    next_attempt_at = now() + make_interval(secs => least($3::float8 * power(2, attempts), $4::float8))
WHERE id = $1
"""


class OutboxSender:
    """Delivers pending outbox rows: e-mail through the transport when there is one, otherwise to the log."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        transport: Transport | None = None,
        *,
        sender: str = "cskh@localhost",
        sender_name: str | None = None,
        max_attempts: int = 20,
        metrics: ComplaintMetrics | None = None,
    ) -> None:
        """Mail goes through `transport` (the worker builds it from the settings: `Settings.smtp_transport`);
        without one, to the log: the development default. `sender` is the From address (`Name <address>` or a bare
        address, then named `sender_name`); its domain is the Message-IDs' domain. With `metrics`, `run` exports
        the backlog (`complaints_outbox_pending`), which the shipped alert rules watch."""
        self._pool = pool
        self._transport = transport
        name, address = parseaddr(sender.strip())
        self._from = Address(display_name=name or sender_name or "", addr_spec=address or "cskh@localhost")
        self._max_attempts = max_attempts
        self._metrics = metrics

    async def pending(self) -> int:
        """Messages still to go out (not sent, attempts left): a mail server refusing or away makes it grow."""
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval(_PENDING, self._max_attempts))

    async def deliver_pending(self, batch: int = 50) -> int:
        """Deliver up to `batch` due messages; return how many went out."""
        sent = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, batch, self._max_attempts)
            for row in rows:
                fields = {
                    "outbox_id": row["id"],
                    "complaint_id": row["complaint_id"],
                    "template": row["template"],
                    "recipient": row["recipient"],
                }
                try:
                    via, message_id = await self._deliver(conn, row)
                except Exception as exc:
                    # The error text may quote the address; it goes to the row (Postgres), only its type to the log.
                    await conn.execute(
                        _MARK_FAILED,
                        row["id"],
                        f"{type(exc).__name__}: {exc}"[:2000],
                        RETRY_BASE_SECONDS,
                        RETRY_MAX_SECONDS,
                    )
                    log.warning(
                        "outbox delivery failed", **fields, attempt=row["attempts"] + 1, error=type(exc).__name__
                    )
                    continue
                await conn.execute(_MARK_SENT, row["id"], via, message_id)
                log.info("outbox message delivered", **fields, via=via)
                sent += 1
        return sent

    async def _deliver(
        self, conn: asyncpg.pool.PoolConnectionProxy[Any], row: asyncpg.Record
    ) -> tuple[str, str | None]:
        """Send one row; the name of the way it went, and the Message-ID when it was mailed."""
        if self._transport is None or row["medium"] != "email":
            # No mail server configured, or a phone number / postal address: the log is the hand-over,
            # and the message itself waits in the outbox row for whoever calls or posts it.
            log.info(
                "outbox message handed to the log",
                outbox_id=row["id"],
                complaint_id=row["complaint_id"],
                template=row["template"],
                recipient=row["recipient"],
                medium=row["medium"],
            )
            return "log", None
        earlier = [r["message_id"] for r in await conn.fetch(_EARLIER, *self._thread_key(row))]
        message = self._message(
            row, references(row["customer_message_id"] if self._to_customer(row) else None, earlier)
        )
        await self._transport.send(message)
        return self._transport.name, str(message["Message-ID"])

    @staticmethod
    def _to_customer(row: asyncpg.Record) -> bool:
        return bool(row["recipient"] == "customer")

    @staticmethod
    def _thread_key(row: asyncpg.Record) -> tuple[str, str, str, int]:
        """One thread per complaint and mailbox: the customer's, and each member of staff's, kept apart."""
        return row["complaint_id"], row["recipient"], row["address"], row["id"]

    def message_id(self, row: asyncpg.Record) -> str:
        """Made from the row alone (its id, a digest of its complaint id), so a resend after a crash carries the
        same one; the complaint id itself may be a caller's key, so only its digest goes into a header."""
        digest = hashlib.blake2b(str(row["complaint_id"]).encode("utf-8"), digest_size=6).hexdigest()
        return f"<outbox-{row['id']}.{digest}@{self._from.domain or 'localhost'}>"

    def _message(self, row: asyncpg.Record, thread: list[str]) -> EmailMessage:
        # The SMTP policy: CRLF line ends, and non-ASCII names and subjects as RFC 2047 encoded words.
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = self._from
        name = row["customer_name"] if self._to_customer(row) else None
        message["To"] = Address(display_name=" ".join(str(name or "").split()), addr_spec=row["address"])
        subject = " ".join(str(row["subject"]).split())
        message["Subject"] = tagged_subject(subject, row["case_number"]) if row["case_number"] else subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = self.message_id(row)
        if thread:
            message["In-Reply-To"] = thread[-1]
            message["References"] = " ".join(thread)
        # Quoted-printable: readable in the raw and safe through a relay without 8BITMIME.
        message.set_content(row["body"], cte="quoted-printable")
        return message

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Deliver until `stop` is set; straight on while full batches keep coming, else every `interval` seconds."""
        batch = 50
        counted = -math.inf
        while not stop.is_set():
            try:
                sent = await self.deliver_pending(batch)
                if self._metrics is not None and time.monotonic() - counted >= BACKLOG_INTERVAL_SECONDS:
                    counted = time.monotonic()
                    self._metrics.outbox_pending.set(await self.pending())
            except Exception as exc:
                # Keep the sender alive through a database restart; the next round claims the rows again.
                log.warning("outbox round failed", error=type(exc).__name__)
                sent = 0
            if sent >= batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
