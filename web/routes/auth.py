"""Signing in and out: throttled before the password is looked at, audited without naming accounts that do not
exist, and a new server-side session on every sign-in."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from web.forms import read_form
from web.pages import Pages
from web.throttle import SignInThrottle, client_address
from web.users import account_exists, authenticate

log = structlog.get_logger(__name__)


def safe_next(target: str | None) -> str:
    """Only a path on this site: `//evil.example` and `https://...` are open redirects."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class SignInRoutes:
    """`/login` and `/logout`."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.throttle = SignInThrottle(pages.pool, pages.settings)

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    async def login_page(self, request: Request) -> Response:
        ctx = await self.pages.context(request)
        if ctx.user is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return self.pages.render(
            ctx, "login.html", next=safe_next(request.query_params.get("next")), username="", error=None
        )

    async def login(self, request: Request) -> Response:
        """Throttled before the password is looked at: while an account or an address is over its limit of
        failed sign-ins, even the right password is refused (429), so guessing gains nothing by going faster."""
        ctx = await self.pages.context(request)
        form = await read_form(request)
        self.pages.check_csrf(ctx, form)
        username, password = form.get("username")[:64], form.get("password")
        account, address = username.strip().lower(), client_address(request)
        target = safe_next(form.get("next"))
        throttled = await self.throttle.throttled(account, address)
        if throttled is not None:
            log.warning(
                "sign-in throttled",
                account=await self.audit_name(account),
                client_address=address,
                retry_in_minutes=throttled.minutes,
            )
            message = ctx.tr.ngettext(
                "Too many failed sign-ins. Try again in %(num)d minute.",
                "Too many failed sign-ins. Try again in %(num)d minutes.",
                throttled.minutes,
            )
            response = self.pages.render(ctx, "login.html", 429, next=target, username=username, error=message)
            response.headers["Retry-After"] = str(int(throttled.seconds) + 1)
            return response
        user = await authenticate(self.pages.pool, username, password) if username and password else None
        if user is None:
            await self.throttle.failed(account, address)
            log.info("sign-in refused", account=await self.audit_name(account), client_address=address)
            return self.pages.render(
                ctx,
                "login.html",
                401,
                next=target,
                username=username,
                error=ctx.tr.gettext("Wrong username or password."),
            )
        await self.throttle.succeeded(account)
        await self.pages.sessions.sign_in(request, user.username)
        log.info("signed in", username=user.username, role=user.role.value, client_address=address)
        return RedirectResponse(target, 303)

    async def audit_name(self, account: str) -> str:
        """The account named in an audit line only when it exists: never what someone typed at random."""
        return account if account and await account_exists(self.pages.pool, account) else "(unknown account)"

    async def logout(self, request: Request) -> Response:
        ctx = await self.pages.context(request)
        form = await read_form(request)
        self.pages.check_csrf(ctx, form)
        await self.pages.sessions.sign_out(request)
        if ctx.user is not None:
            log.info("signed out", username=ctx.user.username)
        return RedirectResponse("/login", 303)
