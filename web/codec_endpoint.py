"""The codec server on the web app: `POST /codec/decode` and `POST /codec/encode`, Temporal's remote codec protocol,
so that an operator reading a complaint in the Temporal Web UI sees it decrypted, and nobody else does.

Who may use it: a signed-in manager or admin (the session cookie of the web form), or a caller presenting the
bearer token from `COMPLAINTS_CODEC_TOKEN` (the `temporal` CLI, a UI that passes an access token). No session and
no valid token is 401; an agent is 403. Neither answer says anything about the payloads, the keys or the
namespace.

CORS: the Temporal UI runs on its own origin (`WebSettings.temporal_ui`, `http://localhost:8233` under
`complaints dev`) and calls these endpoints from the browser with `credentials: "include"`. That origin, and only
that one, gets `Access-Control-Allow-Origin` with `Access-Control-Allow-Credentials: true`; a request carrying any
other `Origin` (other than the web app's own) is refused with 403 and no CORS headers, so a page elsewhere can
neither read an answer nor make the browser send one. The session cookie is `SameSite=Lax`: the browser sends it
on the UI's fetch only when the UI is on the same site (same host, another port, as under `complaints dev`); a UI
on another site uses the bearer token instead.

CSRF: these endpoints take JSON, not forms, so they are exempt from the form's CSRF token (the UI cannot know
it). Instead they require the `X-Namespace` header, naming the configured namespace. A custom header cannot be set
by a cross-site `<form>` or a "simple" request: the browser must first send an OPTIONS preflight, which only the
UI origin passes. So a forged request either lacks the header (400, nothing decoded) or is stopped by the browser
at the preflight. The `Origin` check above is a second line for browsers that send it on every POST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from hmac import compare_digest
from urllib.parse import urlsplit

import asyncpg
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.converter import PayloadCodec

from activities.database import database_unavailable
from starter.codec import EncryptionCodec
from starter.codec_server import decode_payloads, encode_payloads
from web.forms import read_body
from web.sessions import session_user
from web.settings import RETRY_AFTER_SECONDS, WebSettings
from web.users import UserRole, get_user

log = structlog.get_logger(__name__)

MAX_CODEC_BODY_BYTES = 4 * 1024 * 1024
"""A page of history in the UI is far smaller; more is refused with 413 before it is read."""
NAMESPACE_HEADER = "x-namespace"
ALLOWED_HEADERS = "content-type, x-namespace, authorization"
ALLOWED_METHODS = "POST, OPTIONS"
PREFLIGHT_MAX_AGE = "600"
CODEC_ROLES = frozenset({UserRole.MANAGER, UserRole.ADMIN})
"""Web roles that may read decrypted payloads: managers, and admins (the operators)."""

UNAVAILABLE = 503
"""`_allowed`'s answer when the session's user cannot be looked up: PostgreSQL is away (a bearer token still works)."""

Transform = Callable[[bytes, PayloadCodec], Awaitable[bytes]]


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]`, lower case, as a browser writes the `Origin` header; None for no usable URL."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def bearer_matches(request: Request, token: bytes | None) -> bool:
    """Whether the request's `Authorization: Bearer ...` is `token`, compared in constant time; never without one."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if token is None or scheme.lower() != "bearer" or not presented.strip():
        return False
    return compare_digest(presented.strip().encode(), token)


class CodecEndpoint:
    """The two endpoints and their preflight; `codec` None (no keys) answers 404 after the same checks."""

    def __init__(self, codec: PayloadCodec | None, pool: asyncpg.Pool, settings: WebSettings) -> None:
        self.codec = codec.for_display() if isinstance(codec, EncryptionCodec) else codec
        self.pool = pool
        self.namespace = settings.temporal_namespace
        self.ui_origin = origin_of(settings.temporal_ui)
        token = settings.codec_token.get_secret_value().strip() if settings.codec_token is not None else ""
        self.token = token.encode() if token else None

    def routes(self) -> list[Route]:
        return [
            Route("/codec/decode", self.decode, methods=["POST"]),
            Route("/codec/encode", self.encode, methods=["POST"]),
            Route("/codec/decode", self.preflight, methods=["OPTIONS"]),
            Route("/codec/encode", self.preflight, methods=["OPTIONS"]),
        ]

    # ---- CORS ----

    def cors_headers(self, request: Request) -> dict[str, str] | None:
        """The headers for this request's origin: {} without an Origin (or from our own), None from a foreign one."""
        sent = request.headers.get("origin", "").strip()
        if not sent:
            return {}
        origin = origin_of(sent)  # "null" (a sandboxed page, a file) is no usable origin: foreign
        if origin is not None and origin == self.ui_origin:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Vary": "Origin",
            }
        if origin is not None and origin == origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}"):
            return {"Vary": "Origin"}
        return None

    async def preflight(self, request: Request) -> Response:
        cors = self.cors_headers(request)
        if not cors or "Access-Control-Allow-Origin" not in cors:
            return Response(status_code=403)
        return Response(
            status_code=204,
            headers={
                **cors,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            },
        )

    # ---- who is asking ----

    def _token_matches(self, request: Request) -> bool:
        return bearer_matches(request, self.token)

    async def _allowed(self, request: Request) -> int | None:
        """None when the caller may use the codec; else 401 (nobody), 403 (a role that may not) or 503 (the
        session's user cannot be looked up now: PostgreSQL is away)."""
        if self._token_matches(request):
            return None
        try:
            username = session_user(request)  # a signed-in session is a row: reading it needs the database too
            user = await get_user(self.pool, username) if username is not None else None
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("codec session check: records unavailable", error=type(exc).__name__)
            return UNAVAILABLE
        if user is None:
            return 401
        return None if user.role in CODEC_ROLES else 403

    # ---- the endpoints ----

    async def decode(self, request: Request) -> Response:
        return await self._answer(request, decode_payloads, "decode")

    async def encode(self, request: Request) -> Response:
        return await self._answer(request, encode_payloads, "encode")

    async def _answer(self, request: Request, transform: Transform, direction: str) -> Response:
        cors = self.cors_headers(request)
        if cors is None:
            log.info("codec request from a foreign origin refused", direction=direction)
            return _error(403, "forbidden")
        refused = await self._allowed(request)
        if refused == 401:
            return _error(401, "sign in as a manager or operator", {**cors, "WWW-Authenticate": "Bearer"})
        if refused == UNAVAILABLE:
            return _error(
                UNAVAILABLE, "records temporarily unavailable", {**cors, "Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        if refused is not None:
            log.info("codec request refused for the role", direction=direction)
            return _error(403, "forbidden", cors)
        namespace = request.headers.get(NAMESPACE_HEADER, "").strip()
        if not namespace:
            return _error(400, "the X-Namespace header is required", cors)
        if namespace != self.namespace:
            return _error(403, "this codec does not serve that namespace", cors)
        if self.codec is None:
            return _error(404, "no codec configured", cors)
        try:
            body = await read_body(request, MAX_CODEC_BODY_BYTES)
        except HTTPException:  # 413, the one refusal of a capped read
            return _error(413, f"the body is larger than {MAX_CODEC_BODY_BYTES} bytes", cors)
        try:
            answer = await transform(body, self.codec)
        except ValueError as exc:  # MalformedCodecRequest, PayloadDecryptionError: no payload content in either
            log.info("codec request refused", direction=direction, error=type(exc).__name__)
            return _error(400, "malformed request or a payload that cannot be decoded", cors)
        return Response(answer, media_type="application/json", headers=cors)
