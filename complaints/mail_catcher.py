"""The dev stack's mail catcher: a local SMTP server that keeps what the outbox sends, so no mail leaves the
machine while a newcomer reads, in the web form, exactly what customers would receive.

`complaints dev` runs it only when no mail server is configured (`COMPLAINTS_SMTP_HOST` unset), and points its
worker's outbox at it; production sends through a real SMTP server and runs no catcher. Built on aiosmtpd, the
library the mail ingress will use too, serving in the stack's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.caught_mail import CaughtMail
from complaints.data_dir import StackError

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Well above anything the outbox writes; a bound so a stray client cannot fill the disk with one message."""


class CatchingHandler:
    """aiosmtpd's DATA hook: every message, whoever it is for, goes to the folder, none further."""

    def __init__(self, mailbox: CaughtMail) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        if not isinstance(content, bytes):
            return "554 Transaction failed: no message"
        name = await asyncio.to_thread(self.mailbox.keep, content)
        log.info("mail caught", file=name, recipients=len(envelope.rcpt_tos))  # no address: personal data
        return "250 Message caught (complaints dev: it goes no further)"


@contextlib.asynccontextmanager
async def mail_catcher(data_dir: Path, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve on `host:port` (0: a free port) until the block ends; yields the `host:port` it listens on."""
    handler = CatchingHandler(CaughtMail.of_data_dir(data_dir))
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="complaints-dev", data_size_limit=MAX_MESSAGE_BYTES), host, port
        )
    except OSError as exc:
        raise StackError(f"the mail catcher cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = server.sockets[0].getsockname()
    try:
        yield f"{bound[0]}:{bound[1]}"
    finally:
        server.close()
        await server.wait_closed()
