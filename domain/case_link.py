"""The signed link in every message to a customer: it opens that one complaint in the portal, until it expires.

A customer who lost their case number, or who reads the company's letter on a phone, follows the link instead of
typing the number and their phone. The link is a capability, so it is bound to one complaint, carries its expiry,
and is signed with a key only the company's processes hold (the worker signs when it writes a message, the web app
checks when the link is followed). Pure code, given the key and the instant: the same rules on both sides.

The token is `<complaint id>~<expiry, unix seconds in hex>~<HMAC-SHA256, base64url>`: complaint ids are case keys,
never personal data, and `~` is outside their alphabet, so the token splits one way only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from enum import StrEnum

from domain.fields import COMPLAINT_ID_PATTERN

DEFAULT_LIFETIME = timedelta(days=90)
"""Long enough for 20 working days, the reopen window and a late reader; short enough that an old letter found in
a shared mailbox stops opening the case."""
MAX_TOKEN_LENGTH = 200
_PURPOSE = b"complaints.case-link.v1\x00"


class LinkRefusal(StrEnum):
    """Why a link does not open a case: the portal words each in its reader's language."""

    MALFORMED = "malformed"
    """Not a token of ours at all, or altered: the signature does not match."""
    EXPIRED = "expired"


class CaseLinkRefused(ValueError):
    def __init__(self, reason: LinkRefusal) -> None:
        super().__init__(f"case link refused: {reason.value}")
        self.reason = reason


class CaseLinks:
    """Signs and reads case links with one key (at least 32 bytes: a key this short to guess would make links
    forgeable)."""

    def __init__(self, key: bytes, lifetime: timedelta = DEFAULT_LIFETIME) -> None:
        if len(key) < 32:
            raise ValueError("a case link key needs at least 32 bytes")
        if lifetime <= timedelta(0):
            raise ValueError("a case link lifetime must be positive")
        self._key = key
        self.lifetime = lifetime

    def sign(self, complaint_id: str, now: datetime) -> str:
        """A token opening `complaint_id` until `now` plus the lifetime."""
        if not COMPLAINT_ID_PATTERN.fullmatch(complaint_id):
            raise ValueError("not a complaint id")
        expires = int((now + self.lifetime).timestamp())
        body = f"{complaint_id}~{expires:x}"
        return f"{body}~{self._signature(body)}"

    def read(self, token: str, now: datetime) -> str:
        """The complaint id a token opens at `now`; `CaseLinkRefused` for a malformed, altered or expired one.

        The signature is checked before the expiry is read, so an altered expiry reads as altered, and it is compared
        in constant time."""
        if len(token) > MAX_TOKEN_LENGTH or token.count("~") != 2:
            raise CaseLinkRefused(LinkRefusal.MALFORMED)
        body, signature = token.rsplit("~", 1)
        if not hmac.compare_digest(signature.encode("ascii", "replace"), self._signature(body).encode("ascii")):
            raise CaseLinkRefused(LinkRefusal.MALFORMED)
        complaint_id, expires = body.split("~")
        if not COMPLAINT_ID_PATTERN.fullmatch(complaint_id):
            raise CaseLinkRefused(LinkRefusal.MALFORMED)
        try:
            expiry = int(expires, 16)
        except ValueError:
            raise CaseLinkRefused(LinkRefusal.MALFORMED) from None
        if now.timestamp() >= expiry:
            raise CaseLinkRefused(LinkRefusal.EXPIRED)
        return complaint_id

    def _signature(self, body: str) -> str:
        digest = hmac.new(self._key, _PURPOSE + body.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
