"""The mail `complaints dev` caught instead of sending: one `.eml` file per message under the data directory.

Files rather than a table: the catcher exists only in the embedded stack, so the production schema carries
nothing for it; each message is kept exactly as the wire carried it, which any mail program opens; and it lives
and goes with the data directory, like the rest of the dev stack's state (owner-only, as `lock_down` leaves it:
the messages greet customers by name). The catcher (`complaints.mail_catcher`) writes, the admins' page reads.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from domain.mail_thread import case_numbers_in

CAUGHT_MAIL_DIR = "caught-mail"
"""Under the data directory."""
NAME = re.compile(r"^[0-9]{19,}-[0-9a-f]{8}\.eml$")
"""`<nanoseconds since the epoch>-<random>.eml`: sorts by arrival, and nothing else is ever opened."""
SHOWN_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References")


@dataclass(frozen=True)
class CaughtMessage:
    name: str
    caught_at: datetime
    to: str
    subject: str
    case_number: str | None
    headers: list[tuple[str, str]]
    text: str
    """The plain-text body, decoded; shown escaped, never as HTML."""


class CaughtMail:
    """The catcher's folder: `keep` a message's bytes, list the latest, read one by its name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> CaughtMail:
        return cls(data_dir / CAUGHT_MAIL_DIR)

    def keep(self, content: bytes) -> str:
        """Store one message; its name. Written aside and renamed, so a reader never sees half a message."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.directory / f".{name}.tmp"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        partial.replace(self.directory / name)
        return name

    def latest(self, limit: int = 200) -> list[CaughtMessage]:
        """The newest `limit` messages, newest first."""
        if not self.directory.is_dir():
            return []
        names = sorted((p.name for p in self.directory.iterdir() if NAME.match(p.name)), reverse=True)
        return [message for name in names[:limit] if (message := self.read(name)) is not None]

    def read(self, name: str) -> CaughtMessage | None:
        """One message, or None for a name that is not one of the catcher's files."""
        if not NAME.match(name):
            return None
        try:
            raw = (self.directory / name).read_bytes()
        except OSError:
            return None
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(parsed.get("Subject", ""))
        numbers = case_numbers_in(subject)
        return CaughtMessage(
            name=name,
            caught_at=datetime.fromtimestamp(int(name.split("-", 1)[0]) / 1e9, UTC),
            to=str(parsed.get("To", "")),
            subject=subject,
            case_number=numbers[0] if numbers else None,
            headers=[(key, str(parsed[key])) for key in SHOWN_HEADERS if parsed[key] is not None],
            text=_plain_text(parsed),
        )


def _plain_text(message: email.message.Message) -> str:
    if not isinstance(message, EmailMessage):
        return ""
    part = message.get_body(preferencelist=("plain",))
    if part is None or not isinstance(part, EmailMessage):
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset, a broken encoding: show what decodes
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
