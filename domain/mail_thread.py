"""How a complaint's mail stays one thread: the case number tagged in the subject, and the References chain.

Help desks customers already know (Zammad, osTicket, Zendesk) recognise a follow-up by the ticket number in the
subject and by the References header; a mail program groups a conversation by the same two. Pure rules, so the
outbox (mail out) and the ingress (mail in) read and write the tag the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import StringConstraints

from domain.fields import CASE_NUMBER_PATTERN

REPLY_PREFIX = re.compile(r"^\s*((?:re|fw|fwd|tr|aw|sv)\s*:\s*)+", re.IGNORECASE)
"""`Re:`, `Fwd:` and their cousins (`TR:` is French and Vietnamese mail programs' forward)."""
MESSAGE_ID_PATTERN = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")
"""A Message-ID as it is kept: in angle brackets, visible ASCII without `<`/`>`, short enough for an index. The
ingress normalises what a mail program sends (spaces, missing brackets) and mints one for mail without it."""
MessageId = Annotated[str, StringConstraints(pattern=f"^{MESSAGE_ID_PATTERN.pattern}$")]
MAX_REFERENCES = 10
"""The root and the latest nine: RFC 5322 lets a long References be trimmed, and keeping the root holds the thread."""


def case_tag(case_number: str) -> str:
    return f"[{case_number}]"


def tagged_subject(subject: str, case_number: str) -> str:
    """`subject` with `[case_number]` exactly once, after any reply prefix, whitespace folded to single spaces.

    A subject that already carries the tag (a template, or a customer's `Re: [KN-…] …`) is not tagged twice."""
    tag = case_tag(case_number)
    text = " ".join(subject.replace(tag, " ").split())
    prefix_match = REPLY_PREFIX.match(text)
    prefix = " ".join(prefix_match.group(0).split()) + " " if prefix_match else ""
    rest = text[prefix_match.end() :].strip() if prefix_match else text
    return f"{prefix}{tag} {rest}".strip()


def case_numbers_in(subject: str) -> list[str]:
    """The case numbers tagged in a subject (`[KN-2026-000123]`), in order: how a reply finds its complaint."""
    return [match.group(1) for match in re.finditer(rf"\[({CASE_NUMBER_PATTERN.pattern})\]", subject)]


def references(root: str | None, earlier: Sequence[str]) -> list[str]:
    """The References of the next message: the thread's root (the customer's first mail, when known) and the
    messages sent before it, oldest first, trimmed to `MAX_REFERENCES` keeping the root."""
    chain = [root, *earlier] if root else list(earlier)
    chain = list(dict.fromkeys(chain))  # a resent root is named once
    if len(chain) <= MAX_REFERENCES:
        return chain
    return [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
