"""The mail ingress: an SMTP server (aiosmtpd) the company's mail server forwards customers' mail to.

A door like the web form: a new mail starts a complaint and a reply becomes an action, both through
`ComplaintClient`, so the text policy and the lifecycle decide (`domain.mail_in` reads the mail and routes it;
`activities.mail_threads` finds the complaint a reply continues). The SMTP answer is the door's answer:

- 250 once the complaint has durably taken the mail (the start or the update returned), or when the mail is
  automatic (auto-replies, bounces, lists, our own mail: dropped, nothing created or answered, logged);
- 451 4.3.0 when Temporal or PostgreSQL cannot be reached in `COMPLAINTS_MAIL_INGRESS_TIMEOUT_SECONDS`: the sending
  server keeps the mail and tries again, and the same Message-ID then changes nothing twice;
- 451 4.7.1 to a sender past the rate limit (a token bucket per envelope sender, kept in this process's memory: with
  several ingress processes each counts its own);
- 550 5.6.0 for mail the text policy or the intake refuses, worded here from the refusal's code: nothing is
  started or stored; 552 for a message over `COMPLAINTS_MAIL_INGRESS_MAX_BYTES` (aiosmtpd refuses it).

Logs name complaints, actions and reasons, never an address, a name or a text.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

import asyncpg
import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.attachments import AttachmentStore
from activities.mail_threads import MailThreads
from complaints.data_dir import StackError
from domain.actions import MAX_ATTACHMENTS, Action, Door, Role
from domain.attachments import AttachmentRef, AttachmentRefused
from domain.fields import MAX_DESCRIPTION_CHARS, MAX_TEXT_CHARS
from domain.intake import IntakeError
from domain.mail_in import (
    NO_TEXT,
    TOO_MANY_ATTACHMENTS,
    KnownComplaint,
    MailAttachment,
    ParsedMail,
    attachment_note,
    automatic_reason,
    complaint_id_for,
    earlier_case_line,
    fitted,
    parse_mail,
    reply_action,
    reply_text,
    request_id_for,
    route,
    worded_attachment_refusal,
)
from domain.refusals import Refusal
from starter.client import ActionFailed, ComplaintClient
from starter.settings import Settings

log = structlog.get_logger(__name__)

ACTOR = "mail"
HOSTNAME = "complaints-mail-ingress"
"""The name the server greets with (aiosmtpd would otherwise ask DNS for ours on every connection)."""
PARSE_INLINE_BYTES = 256 * 1024
"""Mail up to this size is parsed in the event loop (well under a millisecond); larger mail in the ingress's own
threads, never the loop's default executor, which other work of the process (or a client in it) may fill."""
PARSER_THREADS = 2
MAX_BUCKETS = 10_000
"""Senders whose buckets are remembered; full buckets are forgotten first, so a flood of senders costs memory once."""

FIELD_WORDS = {
    "customer.name": "the sender's name (From)",
    "customer.email": "the sender's address (From)",
    "customer": "the sender (From)",
    "subject": "the subject",
    "description": "the message text",
    "text": "the message text",
    "summary": "the message text",
    "received_at": "the time of receipt",
}
PROBLEM_WORDS = {
    "text_control_character": "contains a control character",
    "text_bidi_control": "contains a character that changes the text direction",
    "text_invisible_character": "contains an invisible character or a line break",
    "text_surrogate": "contains an invalid character",
    "email_invalid": "is not one valid e-mail address",
    "string_too_long": "is too long",
    "string_too_short": "is empty",
    "missing": "is missing",
    "value_error": "is not accepted",
}


@dataclass(frozen=True)
class IngressConfig:
    max_bytes: int = 10 * 1024 * 1024
    rate_per_minute: float = 20.0
    burst: int = 10
    own_addresses: frozenset[str] = frozenset()
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> IngressConfig:
        own = [parseaddr(settings.smtp_sender)[1], *settings.mail_ingress_own_addresses.split(",")]
        return cls(
            max_bytes=settings.mail_ingress_max_bytes,
            rate_per_minute=settings.mail_ingress_rate_per_minute,
            burst=settings.mail_ingress_rate_burst,
            own_addresses=frozenset(address.strip().lower() for address in own if address.strip()),
            timeout=settings.mail_ingress_timeout_seconds,
        )


@dataclass
class SenderBuckets:
    """A token bucket per envelope sender: `burst` messages at once, then `rate_per_minute`. In this process's
    memory only (a restart forgets, several processes each count their own): it guards against one sender's
    flood, not a distributed one."""

    rate_per_minute: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, sender: str) -> bool:
        now = self.clock()
        tokens, then = self.buckets.get(sender, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_minute / 60.0)
        if tokens < 1.0:
            self.buckets[sender] = (tokens, now)
            return False
        self.buckets[sender] = (tokens - 1.0, now)
        if len(self.buckets) > MAX_BUCKETS:
            self._forget_full(now)
        return True

    def _forget_full(self, now: float) -> None:
        refill = 60.0 * self.burst / self.rate_per_minute
        for sender, (_, then) in list(self.buckets.items()):
            if now - then >= refill:
                del self.buckets[sender]


def envelope_sender(address: str | None) -> str:
    """The MAIL FROM address; empty for the null sender (`<>`, which aiosmtpd hands over as it is): a bounce."""
    address = (address or "").strip()
    return "" if address == "<>" else address


class Refused(Exception):
    """Mail the door will not take: its SMTP answer."""

    def __init__(self, answer: str, field: str, code: str) -> None:
        super().__init__(answer)
        self.answer = answer
        self.field = field
        self.code = code


def refusal_answer(field: str, code: str) -> str:
    """550 with the field and the problem in plain ASCII, from the refusal's code: never the exception's text
    (it may quote the customer's words)."""
    plain_field = re.sub(r"[^a-z0-9_.]", "", field.lower().removeprefix("data."))[:40] or "message"
    plain_code = re.sub(r"[^a-z0-9_]", "", code.lower())[:40] or "value_error"
    where = FIELD_WORDS.get(plain_field, plain_field)
    problem = PROBLEM_WORDS.get(plain_code, f"is not accepted ({plain_code})")
    return f"550 5.6.0 Complaint not taken: {where} {problem}"


class MailIngress:
    """aiosmtpd's handler: MAIL checks the sender's rate, DATA takes the message into a complaint."""

    def __init__(
        self, complaints: ComplaintClient, threads: MailThreads, store: AttachmentStore, config: IngressConfig
    ) -> None:
        self.complaints = complaints
        self.threads = threads
        self.store = store
        self.config = config
        self.buckets = SenderBuckets(config.rate_per_minute, config.burst)
        self.parser = ThreadPoolExecutor(PARSER_THREADS, thread_name_prefix="mail-parser")

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if envelope_sender(address) and not self.buckets.take(address.strip().lower()):
            log.info("mail deferred", reason="sender_rate_limited")
            return "451 4.7.1 Too many messages from this sender: try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received_at = datetime.now(UTC)  # the legal receipt: the instant the message was handed over
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            return "554 5.6.0 No message"
        try:
            sender = envelope_sender(envelope.mail_from)
            return await asyncio.wait_for(self.take(raw, sender, received_at), self.config.timeout)
        except Refused as refused:
            log.info("mail refused", field=refused.field, code=refused.code)
            return refused.answer
        except TimeoutError:
            log.warning("mail deferred", reason="timeout", seconds=self.config.timeout)
            return "451 4.3.0 Complaints temporarily unavailable: try again later"
        except Exception as exc:  # Temporal or PostgreSQL unreachable, or anything else: keep it, try again
            log.warning("mail deferred", reason="unavailable", error=type(exc).__name__)
            return "451 4.3.0 Complaints temporarily unavailable: try again later"

    async def take(self, raw: bytes, envelope_sender: str | None, received_at: datetime) -> str:
        """The mail into its complaint; the SMTP answer, or `Refused`."""
        try:
            if len(raw) <= PARSE_INLINE_BYTES:
                mail = parse_mail(raw, envelope_sender)
            else:  # a big one would hold up every other session of this loop: its own thread
                mail = await asyncio.get_running_loop().run_in_executor(self.parser, parse_mail, raw, envelope_sender)
        except (RecursionError, ValueError, LookupError, TypeError, AttributeError, IndexError) as exc:
            # what the parser still cannot read (MIME nested thousands deep) will not read better tomorrow
            raise Refused(
                "550 5.6.0 Complaint not taken: the message cannot be read", "message", type(exc).__name__
            ) from None
        automatic = automatic_reason(mail, envelope_sender, self.config.own_addresses)
        if automatic is not None:
            log.info("mail dropped", reason=automatic)
            return "250 2.0.0 Accepted: automatic mail, not answered"
        target = await self._continued(mail)
        earlier = None
        if target is not None:
            answered = await self._reply(target, mail)
            if answered is not None:
                return answered
            earlier = target.case_number
        return await self._start(mail, received_at, earlier)

    async def _continued(self, mail: ParsedMail) -> KnownComplaint | None:
        """The complaint the mail continues, if any: no lookup at all for a mail with neither tag nor thread."""
        if not mail.case_numbers and not mail.thread_ids:
            return None
        target = route(mail, await self.threads.find(mail.case_numbers, mail.thread_ids))
        if target is not None and target.merged_into:
            primary = await self.threads.complaint(target.merged_into)
            return primary or target
        return target

    async def _start(self, mail: ParsedMail, received_at: datetime, earlier: str | None) -> str:
        complaint_id = complaint_id_for(mail.message_id)
        body = reply_text(mail.body) if earlier else mail.body
        lead = [earlier_case_line(earlier)] if earlier else []
        refs, notes = await self._keep(complaint_id, mail.attachments)
        description, refs = await self._text(complaint_id, body, lead, notes, refs, MAX_DESCRIPTION_CHARS)
        intake = {
            "customer": {"name": mail.sender_name, "email": mail.sender_address},
            "channel": "email",
            "subject": mail.subject,
            "description": description,
            "received_at": received_at.isoformat(),
            "complaint_id": complaint_id,
            "message_id": mail.message_id,
            "attachments": [ref.model_dump(mode="json") for ref in refs],
        }
        try:
            state = await self.complaints.start(intake)
        except IntakeError as exc:
            raise Refused(refusal_answer(exc.field, exc.code), exc.field, exc.code) from None
        except ActionFailed as exc:  # the record refused the registration for good
            raise Refused("550 5.6.0 Complaint not taken: the record refused it", "intake", "record_refused") from exc
        log.info("mail taken", complaint_id=state.complaint_id, action="start", files=len(refs))
        return f"250 2.0.0 Complaint {state.case_number} received"

    async def _reply(self, target: KnownComplaint, mail: ParsedMail) -> str | None:
        """The reply as an action on `target`; None when the complaint can no longer take it (ended, or its stage
        takes no mail): the caller starts a new complaint naming it."""
        action = reply_action(target.stage)
        if action is None:
            return None
        refs, notes = await self._keep(target.complaint_id, mail.attachments)
        text, refs = await self._text(target.complaint_id, reply_text(mail.body), [], notes, refs, MAX_TEXT_CHARS)
        for _ in range(2):  # the record's stage may lag the workflow's: the refusal says the real one
            data: dict[str, Any] = {"attachments": [ref.model_dump(mode="json") for ref in refs]}
            if action is Action.CUSTOMER_INFO_RECEIVED:
                data["summary"] = text
            else:
                data |= {"text": text, "subject": mail.subject}
            try:
                state = await self.complaints.act(
                    target.complaint_id,
                    action,
                    actor=ACTOR,
                    role=Role.SYSTEM,
                    data=data,
                    request_id=request_id_for(mail.message_id),
                    door=Door.EMAIL,
                )
            except ActionFailed as exc:
                if exc.code == Refusal.FIELD_INVALID:
                    params = exc.params or {}
                    field, code = str(params.get("field", "message")), str(params.get("problem", "value_error"))
                    raise Refused(refusal_answer(field, code), field, code) from None
                if exc.code == Refusal.STAGE_NOT_ALLOWED:
                    moved = reply_action(str((exc.params or {}).get("stage", "")))
                    if moved is not None and moved is not action:
                        action = moved
                        continue
                    return None
                if exc.code is None:
                    return None  # not open (ended, archived after the reopen window) or unknown: a new complaint
                raise Refused("550 5.6.0 Complaint not taken: the reply was refused", "action", exc.code) from None
            log.info("mail taken", complaint_id=target.complaint_id, action=action.value, files=len(refs))
            return f"250 2.0.0 Added to complaint {state.case_number}"
        return None

    async def _keep(
        self, complaint_id: str, attachments: Sequence[MailAttachment]
    ) -> tuple[list[AttachmentRef], list[str]]:
        """Each file into the store under the complaint (idempotent); a refused one is left out, named in a note."""
        refs: list[AttachmentRef] = []
        notes: list[str] = []
        for attachment in attachments:
            if len(refs) >= MAX_ATTACHMENTS:
                notes.append(attachment_note(attachment.name, attachment.content_type, TOO_MANY_ATTACHMENTS))
                continue
            try:
                ref = await self.store.put(complaint_id, attachment.name, attachment.content_type, attachment.data)
            except AttachmentRefused as exc:
                reason = worded_attachment_refusal(exc.code, exc.params)
                notes.append(attachment_note(attachment.name, attachment.content_type, reason))
                continue
            if ref not in refs:
                refs.append(ref)
        return refs, notes

    async def _text(
        self,
        complaint_id: str,
        body: str,
        lead: list[str],
        notes: list[str],
        refs: list[AttachmentRef],
        limit: int,
    ) -> tuple[str, list[AttachmentRef]]:
        """The text a field gets: `lead` lines, the body (cut to fit, the whole kept as a file), the notes."""
        frame = sum(len(line) + 2 for line in [*lead, *notes])
        kept, whole = fitted(body or NO_TEXT, limit - frame)
        if whole is not None:
            more, more_notes = await self._keep(complaint_id, [whole])
            refs = [*refs, *(ref for ref in more if ref not in refs)]
            notes = [*notes, *more_notes]
        return "\n\n".join([*lead, kept, *notes]), refs


@contextlib.asynccontextmanager
async def mail_ingress(
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    store: AttachmentStore,
    config: IngressConfig,
    host: str = "127.0.0.1",
    port: int = 2525,
) -> AsyncIterator[str]:
    """Serve on `host:port` (0: a free port) until the block ends; yields the `host:port` it listens on."""
    handler = MailIngress(complaints, MailThreads(pool), store, config)
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            lambda: SMTP(handler, hostname=HOSTNAME, data_size_limit=config.max_bytes, enable_SMTPUTF8=True),
            host,
            port,
        )
    except OSError as exc:
        raise StackError(f"the mail ingress cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = server.sockets[0].getsockname()
    log.info("mail ingress listening", address=f"{bound[0]}:{bound[1]}")
    try:
        yield f"{bound[0]}:{bound[1]}"
    finally:
        server.close()
        await server.wait_closed()
        handler.parser.shutdown(wait=False, cancel_futures=True)


def listen_address(address: str) -> tuple[str, int]:
    """`host:port` of `COMPLAINTS_MAIL_INGRESS_ADDRESS` (`[::1]:2525` for IPv6); `ValueError` naming it."""
    host, colon, port = address.strip().rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"COMPLAINTS_MAIL_INGRESS_ADDRESS: not host:port ({address!r})")
    return host.strip("[]") or "0.0.0.0", int(port)
