"""Server-side sessions: a signed-in session is a row in `web_sessions` (PostgreSQL), shared by every web process,
so signing out ends it everywhere and a replayed cookie signs nobody in.

The cookie of a signed-in browser holds only a random token; the table keeps its SHA-256, the username, the
session's data (CSRF token, flash message) and when it began, was last seen, expires and ended. A sign-in always
issues a new token (no session fixation); a sign-out, a password reset or a disabled account ends the rows.
A sign-in lasts `session_max_age` seconds from the moment it was made, however busy the user is meanwhile.

Anonymous visitors (the sign-in page's CSRF token) are not stored: their few bytes travel in the same cookie,
signed with the session secret. Stored, every robot that fetches /login would add a row, and the sign-in page
would need the database to show a form; signed, a forged or tampered cookie is simply ignored, and a signed
cookie never carries a user, so nobody is signed in by anything but a live row.

`request.session` stays a dict for the routes. Changes to the data are saved when the response starts; the
identity changes only through `SessionStore.sign_in` and `sign_out`, which write at once, so a failure there is
the route's error (503 while PostgreSQL is away), never a sign-out that silently did not happen.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool
import structlog
from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from activities.database import database_unavailable
from web.settings import WebSettings

log = structlog.get_logger(__name__)

SESSION_COOKIE = "complaints_session"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""What `secrets.token_urlsafe(32)` makes: a cookie of this shape is looked up, anything else is a signed one."""
USER = "user"
TOUCH_EVERY = timedelta(minutes=1)
"""`last_seen_at` is written at most this often per session, not on every request."""
SESSIONLESS_PATHS = ("/static/", "/healthz", "/metrics", "/portal")
"""Paths that never read the session: no query for them, so they answer the same while PostgreSQL is away. The
customers' portal is one: a staff session is never required nor used there (it has its own cookie, `web.portal`)."""

Connection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _snapshot(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


class Session(dict[str, Any]):
    """`request.session`: the data as a dict, plus which row (if any) it came from.

    `unavailable` is the error met loading a signed-in session while PostgreSQL was away: the dict is empty
    then and is not saved, and `session_user` raises that error so the route answers 503 rather than treating
    a signed-in user as a stranger."""

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        token_hash: bytes | None = None,
        username: str | None = None,
        unavailable: BaseException | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(data or {})
        self.token_hash = token_hash
        self.username = username
        self.unavailable = unavailable
        self.transient = transient
        self.issued_token: str | None = None
        self.saved = _snapshot(self)

    def data(self) -> dict[str, Any]:
        return {key: value for key, value in self.items() if key != USER}


def session_user(request: HTTPConnection) -> str | None:
    """The signed-in username, from a live row only; raises the database's error when it could not be read."""
    session = request.session
    if not isinstance(session, Session):
        return None
    if session.unavailable is not None:
        raise session.unavailable
    username = session.get(USER)
    if session.token_hash is None or not isinstance(username, str) or username != session.username:
        return None
    return username


async def end_user_sessions(conn: Connection, username: str) -> int:
    """End every live session of a user (password reset, disabled account); how many there were."""
    result = await conn.execute(
        "UPDATE web_sessions SET ended_at = now() WHERE username = $1 AND ended_at IS NULL", username
    )
    return int(result.split()[-1])


class SessionStore:
    """Loads, saves, begins and ends sessions; one per app, shared by the middleware and the sign-in routes."""

    def __init__(self, pool: asyncpg.Pool, settings: WebSettings) -> None:
        self.pool = pool
        self.max_age = settings.session_max_age
        self.secure = settings.secure_cookies
        self.anonymous = URLSafeTimedSerializer(settings.secret(), salt="complaints.anonymous-session")

    # ---- loading and saving, for the middleware ----

    async def load(self, cookie: str | None) -> Session:
        if not cookie:
            return Session()
        if TOKEN.match(cookie):
            return await self._load_signed_in(cookie)
        try:
            data = self.anonymous.loads(cookie, max_age=self.max_age)
        except BadData:  # tampered, expired or not ours: a stranger
            return Session()
        if not isinstance(data, dict):
            return Session()
        data.pop(USER, None)
        return Session(data)

    async def _load_signed_in(self, token: str) -> Session:
        hashed = token_hash(token)
        try:
            row = await self.pool.fetchrow(
                "SELECT s.username, s.data, s.last_seen_at FROM web_sessions s JOIN users u USING (username) "
                "WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now() AND NOT u.disabled",
                hashed,
            )
            if row is not None and row["last_seen_at"] < datetime.now(UTC) - TOUCH_EVERY:
                await self.pool.execute("UPDATE web_sessions SET last_seen_at = now() WHERE token_hash = $1", hashed)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return Session(unavailable=exc)
        if row is None:  # signed out, expired, disabled, or never issued: a stranger
            return Session()
        data = row["data"] if isinstance(row["data"], dict) else {}
        return Session({**data, USER: row["username"]}, token_hash=hashed, username=row["username"])

    async def save(self, session: Session, had_cookie: bool) -> str | None:
        """Write what changed; the `Set-Cookie` value to send, if the cookie must change."""
        if session.unavailable is not None or session.transient:
            return None
        if session.issued_token is not None:
            await self._save_data(session)
            return self._cookie(session.issued_token, self.max_age)
        if session.token_hash is not None:
            if session.get(USER) == session.username:
                await self._save_data(session)
                return None
            # The route dropped the user (the account was disabled or removed meanwhile): that row is done.
            await self._end(session.token_hash, tolerate_outage=True)
            session.token_hash, session.username = None, None
            session.pop(USER, None)
            return self._anonymous_cookie(session, had_cookie=True)
        session.pop(USER, None)  # only a row signs anyone in
        return self._anonymous_cookie(session, had_cookie)

    async def _save_data(self, session: Session) -> None:
        current = _snapshot(session)
        if current == session.saved:
            return
        try:
            await self.pool.execute(
                "UPDATE web_sessions SET data = $2 WHERE token_hash = $1 AND ended_at IS NULL",
                session.token_hash,
                session.data(),
            )
        except Exception as exc:  # a flash message or CSRF token lost to an outage: the form asks to reload
            if not database_unavailable(exc):
                raise
            log.warning("session data not saved: records unavailable", error=type(exc).__name__)
            return
        session.saved = current

    def _anonymous_cookie(self, session: Session, had_cookie: bool) -> str | None:
        if session:
            if _snapshot(session) == session.saved and had_cookie:
                return None
            return self._cookie(self.anonymous.dumps(dict(session)), self.max_age)
        return self._cookie("", 0) if had_cookie else None

    def _cookie(self, value: str, max_age: int) -> str:
        parts = [f"{SESSION_COOKIE}={value}", "path=/", f"Max-Age={max_age}", "httponly", "samesite=lax"]
        if max_age == 0:
            parts.insert(2, "expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self.secure:
            parts.append("secure")
        return "; ".join(parts)

    # ---- the identity, for the sign-in routes ----

    async def sign_in(self, request: Request, username: str) -> None:
        """A new row with a new token, whatever cookie came in (no session fixation); the old row, if any, ends.
        Expired rows of anyone are removed meanwhile, so the table holds about one working day of sign-ins."""
        session = request.session
        assert isinstance(session, Session), "the ServerSessions middleware is not installed"
        if session.unavailable is not None:
            raise session.unavailable
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        hashed = token_hash(token)
        async with self.pool.acquire() as conn, conn.transaction():
            if session.token_hash is not None:
                await conn.execute(
                    "UPDATE web_sessions SET ended_at = now() WHERE token_hash = $1 AND ended_at IS NULL",
                    session.token_hash,
                )
            await conn.execute(
                "INSERT INTO web_sessions (token_hash, username, data, expires_at) "
                "VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                hashed,
                username,
                {"csrf": csrf},
                float(self.max_age),
            )
            await conn.execute("DELETE FROM web_sessions WHERE expires_at <= now()")
        session.clear()
        session.update({USER: username, "csrf": csrf})
        session.token_hash, session.username, session.issued_token = hashed, username, token
        session.saved = _snapshot(session)

    async def sign_out(self, request: Request) -> None:
        """End the row in the database: the same cookie replayed anywhere finds nobody."""
        session = request.session
        assert isinstance(session, Session), "the ServerSessions middleware is not installed"
        if session.unavailable is not None:
            raise session.unavailable
        if session.token_hash is not None:
            await self._end(session.token_hash, tolerate_outage=False)
        session.clear()
        session.token_hash, session.username = None, None

    async def _end(self, hashed: bytes, *, tolerate_outage: bool) -> None:
        try:
            await self.pool.execute(
                "UPDATE web_sessions SET ended_at = now() WHERE token_hash = $1 AND ended_at IS NULL", hashed
            )
        except Exception as exc:
            if not (tolerate_outage and database_unavailable(exc)):
                raise
            log.warning("session not ended: records unavailable", error=type(exc).__name__)


class ServerSessions:
    """ASGI middleware: `request.session` from the cookie's row (or signed anonymous data), saved at the start
    of the response. `SESSIONLESS_PATHS` get an empty session that is never saved: no query for a stylesheet."""

    def __init__(self, app: ASGIApp, sessions: SessionStore) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cookie = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
        if str(scope.get("path", "")).startswith(SESSIONLESS_PATHS):
            session = Session(transient=True)
        else:
            session = await self.sessions.load(cookie)
        scope["session"] = session

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                set_cookie = await self.sessions.save(session, had_cookie=cookie is not None)
                if set_cookie is not None:
                    MutableHeaders(scope=message).append("set-cookie", set_cookie)
            await send(message)

        await self.app(scope, receive, send_with_session)
