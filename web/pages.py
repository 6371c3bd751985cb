"""What every page needs, whatever its area: who is asking (the signed-in user, or a redirect to sign in), in
which language, the form's CSRF token, and rendering a template with all of that.

The route modules (`web.routes.*`) each hold one `Pages` and add only their own endpoints.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from hmac import compare_digest
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from domain.company import CompanyProfile
from web import labels
from web.forms import FormData
from web.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, pick_language
from web.query import check_query
from web.sessions import SessionStore, session_user
from web.settings import WebSettings
from web.templates import PageTemplates
from web.users import User, get_user

CSRF_FIELD = "csrf_token"


class Redirect(Exception):
    """Raised by a route to answer 303 to `url` (see `web.errors`): "sign in first" from deep inside a page."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


@dataclass
class Context:
    """What one request renders with: the reader's language and the signed-in user, if any."""

    request: Request
    tr: Translator
    user: User | None


class Pages:
    """The request side shared by every route: the pool, the settings, the sessions and the templates."""

    def __init__(self, pool: asyncpg.Pool, settings: WebSettings, company: CompanyProfile) -> None:
        self.pool = pool
        self.settings = settings
        self.sessions = SessionStore(pool, settings)
        self.templates = PageTemplates(company)

    async def context(self, request: Request) -> Context:
        check_query(request.query_params)  # a parameter no page can take: `bad_query`'s 400
        language = pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))
        user: User | None = None
        username = session_user(request)
        if username is not None:
            user = await get_user(self.pool, username)
            if user is None:  # disabled or removed since signing in
                request.session.clear()
        return Context(request, Translator(language), user)

    @staticmethod
    def anonymous_context(request: Request) -> Context:
        """For pages rendered when the usual context cannot be had (its query refused, the database away, a bug):
        the reader's language, nobody signed in, nothing looked up."""
        language = pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))
        return Context(request, Translator(language), None)

    async def signed_in(self, request: Request) -> Context:
        ctx = await self.context(request)
        if ctx.user is None:
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise Redirect(f"/login?next={quote(target, safe='')}")
            raise HTTPException(403, ctx.tr.gettext("Sign in first."))
        return ctx

    async def admin(
        self, request: Request, forbidden: str = labels.N_("Only an administrator may manage users.")
    ) -> Context:
        ctx = await self.signed_in(request)
        assert ctx.user is not None
        if not ctx.user.is_admin:
            raise HTTPException(403, ctx.tr.gettext(forbidden))
        return ctx

    @staticmethod
    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    @staticmethod
    def check_csrf(ctx: Context, form: FormData) -> None:
        expected = ctx.request.session.get("csrf")
        sent = form.get(CSRF_FIELD)
        if not isinstance(expected, str) or not sent or not compare_digest(expected.encode(), sent.encode()):
            raise HTTPException(
                403,
                ctx.tr.gettext("The form has expired or did not come from this site. Reload the page and try again."),
            )

    @staticmethod
    def language_url(request: Request, language: str, page_path: str | None) -> str:
        """The page in another language; after a POST, the page the form was on (a GET there makes sense)."""
        if page_path is None and request.method == "GET":
            params = {key: value for key, value in request.query_params.items() if key != "lang"}
            return request.url.path + "?" + urlencode({**params, "lang": language})
        return (page_path or request.url.path) + "?" + urlencode({"lang": language})

    def render(
        self, ctx: Context, template: str, status: int = 200, *, page_path: str | None = None, **values: Any
    ) -> HTMLResponse:
        request = ctx.request
        flash = request.session.pop("flash", None)
        body = self.templates.render(
            ctx.tr.language,
            template,
            user=ctx.user,
            csrf_token=self.csrf_token(request),
            flash=flash,
            lang_urls={language: self.language_url(request, language, page_path) for language in LANGUAGES},
            path=request.url.path,
            now=datetime.now(UTC),
            **values,
        )
        response = HTMLResponse(body, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, ctx.tr.language, max_age=365 * 24 * 3600, samesite="lax", httponly=True
            )
        return response
