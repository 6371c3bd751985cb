"""What wraps every request: security headers outermost, then metrics, trusted hosts and server-side sessions.

`StarletteWithSecurityHeaders` is the application class: Starlette with `SecurityHeaders` outside its
`ServerErrorMiddleware`, which a middleware listed in `middleware=` always sits inside, so the 500 page carries the
same headers as every other answer.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.metrics import MetricsMiddleware, WebMetrics
from web.sessions import ServerSessions, SessionStore
from web.settings import WebSettings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
"""A form for typing and reading needs no device, sensor or payment: none of them, for this page or any frame."""


class SecurityHeaders:
    """Headers every response carries: no framing, no scripts, no devices, no caching of pages with personal data.

    It wraps the whole app (see `StarletteWithSecurityHeaders`), Starlette's own 500 answer included: an error page
    is a page too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                added = [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
                ]
                if not static:
                    added.append((b"cache-control", b"no-store"))
                present = {name.lower() for name, _ in headers}  # a route's own stricter value stays (a download's)
                message["headers"] = headers + [(name, value) for name, value in added if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StarletteWithSecurityHeaders(Starlette):
    """Starlette with `SecurityHeaders` outside its `ServerErrorMiddleware` (see the module's docstring)."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


def web_middleware(settings: WebSettings, metrics: WebMetrics, sessions: SessionStore) -> list[Middleware]:
    """The middleware inside the security headers, outermost first: metrics count every answer (a refused host
    too), only the configured hosts are answered, and the session is loaded before any route runs."""
    return [
        Middleware(MetricsMiddleware, metrics=metrics),
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False),
        Middleware(ServerSessions, sessions=sessions),
    ]
