"""The error pages: what a wrong address, a refused query, PostgreSQL away or a bug answer, in the reader's
language and with the same headers as every page, never a stack trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from activities.database import UNAVAILABLE_ERRORS, database_unavailable
from web.i18n import LANGUAGES
from web.metrics import route_template
from web.pages import Pages, Redirect
from web.query import QueryRefused
from web.settings import RETRY_AFTER_SECONDS

log = structlog.get_logger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]


class PortalErrors(Protocol):
    """The customers' portal's own error pages (`web.routes.portal.PortalPages`): under `/portal` an error never
    shows a staff page or a staff link."""

    def error(self, request: Request, code: int, detail: str, *, retry_url: str | None = None) -> Response: ...

    def unavailable(self, request: Request) -> Response: ...


class ErrorPages:
    """Starlette's exception handlers, rendered through the shared `Pages` (the portal's own under `/portal`)."""

    def __init__(self, pages: Pages, portal: PortalErrors | None = None) -> None:
        self.pages = pages
        self.portal = portal

    def _portal(self, request: Request) -> PortalErrors | None:
        path = request.url.path
        return self.portal if path == "/portal" or path.startswith("/portal/") else None

    def exception_handlers(self) -> dict[Any, Handler]:
        """For `Starlette(exception_handlers=...)`: HTTP errors and redirects, a refused query, PostgreSQL away
        (any `OSError` that means so), and `500` for whatever no other handler took."""
        unavailable: Handler = self.records_unavailable
        return {
            HTTPException: self.http_error,
            Redirect: self.http_error,
            QueryRefused: self.bad_query,
            **{error: unavailable for error in (OSError, *UNAVAILABLE_ERRORS)},
            500: self.server_error,
        }

    async def http_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, Redirect):
            return RedirectResponse(exc.url, 303)
        assert isinstance(exc, HTTPException)
        portal = self._portal(request)
        try:
            ctx = self.pages.anonymous_context(request) if portal else await self.pages.context(request)
        except QueryRefused:  # a 404 or 405 whose query is bad as well: the status still says the most
            ctx = self.pages.anonymous_context(request)
        except Exception:  # the database is away: still say what went wrong
            return PlainTextResponse(exc.detail, exc.status_code)
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = ctx.tr.gettext("This page does not exist.")
        elif exc.status_code == 405:
            detail = ctx.tr.gettext("This address does not take that method.")
        elif exc.status_code == 413:
            detail = ctx.tr.gettext("The form is too large.")
        elif exc.status_code == 415:
            detail = ctx.tr.gettext("Expected a form.")
        if portal:
            return portal.error(request, exc.status_code, detail)
        return self.pages.render(ctx, "error.html", exc.status_code, code=exc.status_code, detail=detail)

    async def bad_query(self, request: Request, exc: Exception) -> Response:
        """A query parameter no page can take (`web.query`): 400 naming it, before anything read it."""
        assert isinstance(exc, QueryRefused)
        ctx = self.pages.anonymous_context(request)
        detail = ctx.tr.gettext(
            "This address has a parameter the page cannot take: %(parameter)s (%(problem)s).",
            parameter=exc.parameter,
            problem=exc.problem,
        )
        portal = self._portal(request)
        if portal:
            return portal.error(request, 400, detail)
        return self.pages.render(ctx, "error.html", 400, code=400, detail=detail)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        """Whatever no other handler took: our own 500 page, with no detail of the failure (the server logs the
        traceback, since Starlette raises it on). Rendered with nothing that could fail the same way again."""
        route = route_template(request.scope)
        log.error("request failed", method=request.method, route=route, error=type(exc).__name__)
        ctx = self.pages.anonymous_context(request)
        detail = ctx.tr.gettext(
            "Something went wrong on our side. Try again; if it keeps happening, tell an administrator."
        )
        portal = self._portal(request)
        if portal:
            try:
                return portal.error(request, 500, detail)
            except Exception:
                return PlainTextResponse(detail, 500)
        try:
            body = self.pages.templates.render(
                ctx.tr.language,
                "error.html",
                user=None,
                csrf_token="",
                flash=None,
                lang_urls={language: f"/?lang={language}" for language in LANGUAGES},
                path=request.url.path,
                now=datetime.now(UTC),
                code=500,
                detail=detail,
            )
        except Exception:  # the templates themselves are what fails
            return PlainTextResponse(detail, 500)
        return HTMLResponse(body, 500)

    async def records_unavailable(self, request: Request, exc: Exception) -> Response:
        """PostgreSQL is away (stopped, restarting, full): a plain 503 page that says so, not a stack trace.

        Rendered without the signed-in user (looking them up needs the database too). The pool reconnects on
        its own, so the next request after PostgreSQL is back is served as usual. Anything else is re-raised:
        a real bug still ends as a 500."""
        if not database_unavailable(exc):
            raise exc
        log.warning(
            "records temporarily unavailable", method=request.method, error=type(exc).__name__, detail=str(exc)[:200]
        )
        portal = self._portal(request)
        if portal:
            response = portal.unavailable(request)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        ctx = self.pages.anonymous_context(request)
        retry_url = None
        if request.method in ("GET", "HEAD"):
            retry_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = self.pages.render(ctx, "unavailable.html", 503, retry_url=retry_url)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
