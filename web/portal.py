"""The customers' portal's own rules, apart from its routes (`web.routes.portal`): which cases a browser may see
(the portal cookie), the one-time stamp a form carries (bot trap and double-submit key), finding a case by its
number and the customer's contact without telling which half was wrong, the portal's throttle, and the customer's
words for where a case stands.

The portal cookie is not the staff session: its own name and path (`/portal`), signed with the session secret,
holding only complaint ids with when each was granted and the portal forms' CSRF token. Nothing in it signs anyone
in; a staff page never reads it, and a portal page never reads the staff session (`web.sessions.SESSIONLESS_PATHS`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from itsdangerous import BadData, URLSafeTimedSerializer
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.requests import Request
from starlette.responses import Response

from domain.fields import COMPLAINT_ID_PATTERN
from domain.models import ComplaintState, DocumentKind, Stage
from domain.policy import POLICY
from web.settings import WebSettings
from web.throttle import PostgresStorage, Throttled

PORTAL_COOKIE = "portal"
PORTAL_PATH = "/portal"
MAX_GRANTS = 10
"""Cases one browser holds at once; opening another forgets the oldest."""
FORM_MAX_AGE = 4 * 3600
"""Seconds a portal form stays good after it was shown: a long letter, typed slowly, still goes."""
ACTOR = "customer"
"""Who acts in the timeline for what a customer sends from the portal (role `system`, door `portal`)."""

CUSTOMER_DOCUMENTS = (DocumentKind.RECEIPT_FORM, DocumentKind.WRITTEN_REPLY, DocumentKind.RESOLUTION_RECORD)
"""Documents addressed to the customer; a fix request is the departments' own."""
WORKING = frozenset({Stage.ANALYSING, Stage.CAUSE_IDENTIFIED, Stage.AWAITING_APPROVAL, Stage.APPROVED})
"""Stages the customer sees as one: the company is working on it (a cause or plan is not theirs to see yet)."""
ANSWERABLE = frozenset({Stage.AWAITING_CUSTOMER})
DISPUTABLE = frozenset({Stage.ANSWERED, Stage.CLOSED})
WITHDRAWABLE = frozenset({Stage.RECEIVED, Stage.AWAITING_CUSTOMER, Stage.ANSWERED} | WORKING)
FORM_STAGES = {"answer": ANSWERABLE, "disagree": DISPUTABLE, "withdraw": WITHDRAWABLE}


def offered_forms(state: ComplaintState, now: datetime) -> list[str]:
    """The forms a customer is offered on their case now. A closed complaint can be disputed only within the
    policy's reopen window: past it the complaint's run has ended, and a dispute is a new complaint."""
    offered = [name for name, stages in FORM_STAGES.items() if state.stage in stages]
    closed_at = state.closed_at
    if state.stage is Stage.CLOSED and closed_at is not None and now >= closed_at + POLICY.reopen_window:
        offered.remove("disagree")
    return offered


UNMATCHABLE = "\x00"
"""What a contact is compared with when the case number has no complaint: nothing typed normalises to it."""


def customer_stage(stage: Stage) -> str:
    """The key of the customer's words for a stage (`web.labels.CUSTOMER_STAGES`): staff's steps in between are
    one "we are working on it"."""
    return "working" if stage in WORKING else stage.value


# ---- contacts ----


def normal_phone(text: str) -> str:
    """Digits only, in the national form: `+84 912 345 678`, `0084912345678` and `0912.345.678` are one number."""
    digits = re.sub(r"[^0-9]", "", text)
    if digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("84") and len(digits) >= 10:
        digits = "0" + digits[2:]
    return digits


def normal_email(text: str) -> str:
    return text.strip().lower()


def contact_matches(typed: str, phone: str | None, email: str | None) -> bool:
    """Whether `typed` (a phone number or an e-mail address) is the contact given at intake. The comparison is
    constant-time and made whatever was found, so a case without this contact and no case at all take as long."""
    is_email = "@" in typed
    given = normal_email(typed) if is_email else normal_phone(typed)
    known = (normal_email(email or "") if is_email else normal_phone(phone or "")) or UNMATCHABLE
    same = hmac.compare_digest(given.encode(), known.encode())
    return same & bool(given)


_LOOKUP = (
    "SELECT complaint_id, customer ->> 'phone' AS phone, customer ->> 'email' AS email FROM complaints "
    "WHERE case_number = $1"
)


async def find_case(pool: asyncpg.Pool, case_number: str, contact: str) -> str | None:
    """The complaint id behind `case_number` when `contact` is its customer's phone or e-mail; else None, after the
    same query and the same comparison, so the answer and its time do not tell a wrong number from a wrong contact."""
    row = await pool.fetchrow(_LOOKUP, case_number.strip().upper()[:40])
    phone, email = (row["phone"], row["email"]) if row is not None else (None, None)
    matched = contact_matches(contact, phone, email)
    return str(row["complaint_id"]) if matched and row is not None else None


# ---- the portal cookie ----


@dataclass
class PortalAccess:
    """What one browser holds: the cases it may see (complaint id -> when granted, epoch seconds) and the CSRF
    token of its forms. `changed` says the cookie must be sent again."""

    grants: dict[str, int] = field(default_factory=dict)
    csrf: str = ""
    changed: bool = False

    def grant(self, complaint_id: str) -> None:
        self.grants[complaint_id] = int(time.time())
        while len(self.grants) > MAX_GRANTS:
            del self.grants[min(self.grants, key=lambda key: self.grants[key])]
        self.changed = True

    def may_see(self, complaint_id: str) -> bool:
        return complaint_id in self.grants

    def csrf_token(self) -> str:
        if not self.csrf:
            self.csrf = secrets.token_urlsafe(32)
            self.changed = True
        return self.csrf

    def csrf_ok(self, sent: str) -> bool:
        return bool(self.csrf) and bool(sent) and hmac.compare_digest(self.csrf.encode(), sent.encode())


def _granted_since(value: object, oldest: float) -> bool:
    return isinstance(value, int) and value > oldest


class PortalCookies:
    """Reads and writes the portal cookie (signed, short-lived; see the module's docstring)."""

    def __init__(self, settings: WebSettings) -> None:
        self.max_age = settings.portal_grant_seconds
        self.secure = settings.secure_cookies
        self.serializer = URLSafeTimedSerializer(settings.secret(), salt="complaints.portal")

    def load(self, request: Request) -> PortalAccess:
        cookie = request.cookies.get(PORTAL_COOKIE)
        if not cookie:
            return PortalAccess()
        try:
            data: Any = self.serializer.loads(cookie, max_age=self.max_age)
        except BadData:  # tampered, expired or not ours: a stranger
            return PortalAccess()
        if not isinstance(data, dict):
            return PortalAccess()
        oldest = time.time() - self.max_age
        raw_grants = data.get("g")
        pairs = raw_grants.items() if isinstance(raw_grants, dict) else []
        grants = {
            key: value
            for key, value in pairs
            if isinstance(key, str) and COMPLAINT_ID_PATTERN.fullmatch(key) and _granted_since(value, oldest)
        }
        csrf = data.get("t")
        return PortalAccess(grants=grants, csrf=csrf if isinstance(csrf, str) else "")

    def save(self, access: PortalAccess, response: Response) -> None:
        if not access.changed:
            return
        response.set_cookie(
            PORTAL_COOKIE,
            self.serializer.dumps({"g": access.grants, "t": access.csrf}),
            max_age=self.max_age,
            path=PORTAL_PATH,
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )


# ---- the form stamp: one-time submission id and the bot trap's clock ----


class StampRefused(ValueError):
    """A form sent too fast (a robot), too late (a page left open for hours), or not as we rendered it."""


class FormStamps:
    """A hidden field signed when the form is shown: a random submission id and the moment. Sent back, it says
    the form is ours, how long the sender took (a person takes more than `min_seconds`), and it is the key that
    makes a double submit one complaint or one action."""

    def __init__(self, settings: WebSettings, min_seconds: float) -> None:
        self.serializer = URLSafeTimedSerializer(settings.secret(), salt="complaints.portal-form")
        self.min_seconds = min_seconds

    def new(self) -> str:
        return self.serializer.dumps({"id": uuid.uuid4().hex, "at": time.time()})

    def read(self, stamp: str) -> str:
        """The submission id of a stamp sent back in time; `StampRefused` otherwise."""
        try:
            data: Any = self.serializer.loads(stamp, max_age=FORM_MAX_AGE)
        except BadData:
            raise StampRefused("not a stamp of ours, or too old") from None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("at"), float):
            raise StampRefused("not a stamp of ours")
        if time.time() - data["at"] < self.min_seconds:
            raise StampRefused("sent too fast")
        return str(data["id"])


def portal_complaint_id(submission_id: str) -> str:
    """The complaint a portal form starts: its id follows from the form's one-time submission id."""
    return "portal-" + hashlib.sha256(submission_id.encode()).hexdigest()[:32]


def portal_request_id(submission_id: str) -> str:
    """An action's request id from its form's submission id: the same form sent twice is one action."""
    return "portal:" + hashlib.sha256(submission_id.encode()).hexdigest()[:40]


# ---- throttle ----


class PortalThrottle:
    """Lookups per client address and per case number, complaints per address, actions per case: each counted in
    PostgreSQL (`web.throttle.PostgresStorage`), so every web process counts against the same limits. Every attempt
    counts, allowed or not, found or not."""

    def __init__(self, pool: asyncpg.Pool, settings: WebSettings) -> None:
        self.storage = PostgresStorage(pool)
        self.limiter = FixedWindowRateLimiter(self.storage)
        window = settings.portal_window_seconds
        self.lookups_per_address = RateLimitItemPerSecond(settings.portal_lookups_per_address, window)
        self.lookups_per_case = RateLimitItemPerSecond(settings.portal_lookups_per_case, window)
        self.complaints_per_address = RateLimitItemPerSecond(settings.portal_complaints_per_address, window)
        self.actions_per_case = RateLimitItemPerSecond(settings.portal_actions_per_case, window)

    async def _hit(self, *counters: tuple[RateLimitItem, str, str]) -> Throttled | None:
        await self.storage.remove_expired()
        waits: list[float] = []
        for item, kind, key in counters:
            if not await self.limiter.hit(item, kind, key):
                stats = await self.limiter.get_window_stats(item, kind, key)
                waits.append(stats.reset_time - time.time())
        return Throttled(max(max(waits), 1.0)) if waits else None

    async def lookup(self, address: str, case_number: str) -> Throttled | None:
        return await self._hit(
            (self.lookups_per_address, "portal-lookup-address", address),
            (self.lookups_per_case, "portal-lookup-case", case_number.strip().upper()[:40]),
        )

    async def complaint(self, address: str) -> Throttled | None:
        return await self._hit((self.complaints_per_address, "portal-complaint-address", address))

    async def action(self, complaint_id: str) -> Throttled | None:
        return await self._hit((self.actions_per_case, "portal-action-case", complaint_id))
