"""The agents' web form as an ASGI app: sign-in, intake, inbox, the complaint page and its actions.

Every action goes through `ComplaintClient.act` (the workflow's update, with its validator), so the web form is
one more door to the same rules: it offers only what the workflow says is allowed now for this user's role, and
when the workflow still refuses (a stale page, a plan already decided), its reason is shown and nothing changes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from hmac import compare_digest
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowQueryFailedError
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError

from activities.database import UNAVAILABLE_ERRORS, database_unavailable
from activities.queries import ComplaintQueries
from domain.actions import Action, Door
from domain.company import CompanyProfile
from domain.fields import CASE_NUMBER_PATTERN, COMPLAINT_ID_PATTERN, REQUEST_ID_PATTERN
from domain.intake import IntakeError
from domain.lifecycle import RULES
from domain.models import ComplaintState
from starter.client import ActionFailed, ComplaintClient
from web import labels
from web.clock import local_time, time_left
from web.codec_endpoint import CodecEndpoint
from web.forms import (
    ACTION_FORMS,
    ActionForm,
    FormData,
    IntakeForm,
    Widget,
    blank_action_form,
    blank_intake,
    intake_error_text,
    new_request_id,
    read_action,
    read_form,
    read_intake,
)
from web.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, pick_language, translations
from web.inbox import InboxFilter, load_inbox
from web.metrics import MetricsMiddleware, WebMetrics, route_template
from web.query import QueryRefused, check_query, page_number
from web.refused_actions import moved_on_to, refused_action_text
from web.sessions import ServerSessions, SessionStore, session_user
from web.settings import RETRY_AFTER_SECONDS, WebSettings
from web.throttle import SignInThrottle
from web.users import (
    User,
    UserError,
    UserRole,
    account_exists,
    add_user,
    authenticate,
    get_user,
    list_users,
    set_disabled,
    set_password,
    set_role,
)

log = structlog.get_logger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
CSRF_FIELD = "csrf_token"
ALLOWED_ACTIONS_TIMEOUT = 5.0
"""Seconds to wait for the workflow to say which actions are open; the page still shows the record without."""
TIMELINE_PAGE_SIZE = 50
"""Events on one page of a complaint's timeline: a busy month of work, and a page of tens of kilobytes."""
REFUSALS_SHOWN = 100
"""Record refusals on the admins' page: the latest are what needs looking into; older ones are in the table."""

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


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _safe_next(target: str | None) -> str:
    """Only a path on this site: `//evil.example` and `https://...` are open redirects."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _valid_complaint_id(value: str) -> bool:
    """An id that cannot exist is a 404 without asking the database."""
    return COMPLAINT_ID_PATTERN.fullmatch(value) is not None


def _client_address(request: Request) -> str:
    """The peer's address from the ASGI scope: what sign-in throttling counts per address."""
    return request.client.host if request.client is not None else "unknown"


class SecurityHeaders:
    """Headers every response carries: no framing, no scripts, no devices, no caching of pages with personal data.

    It wraps the whole app (see `WebApp`), Starlette's own 500 answer included: an error page is a page too."""

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
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"permissions-policy", PERMISSIONS_POLICY.encode()),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class WebApp(Starlette):
    """Starlette with `SecurityHeaders` outside its `ServerErrorMiddleware`, which a middleware listed in
    `middleware=` always sits inside: so the 500 page carries the same headers as every other answer."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())


@dataclass
class Context:
    """What one request renders with: the reader's language and the signed-in user, if any."""

    request: Request
    tr: Translator
    user: User | None


def _environment(language: str, company: CompanyProfile) -> Environment:
    """One language's templates; departments are shown by their names in that language (`|department`), and the
    department fields offer the company's departments (`DEPARTMENTS`: code, name)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    tr = Translator(language)

    def label(table: dict[str, str]) -> Callable[[object], str]:
        return lambda value: tr.gettext(table[str(value)]) if str(value) in table else str(value)

    env.filters.update(
        local_time=local_time,
        local_date=lambda value: value.strftime("%d/%m/%Y"),
        left=lambda due, now, breached=False: time_left(due, now, tr, breached=breached),
        stage=label(labels.STAGES),
        action=label(labels.ACTIONS),
        event=label(labels.EVENTS),
        channel=label(labels.CHANNELS),
        role=label(labels.ROLES),
        field=label(labels.FIELDS),
        info_item=label(labels.INFO_ITEMS),
        reply_channel=label(labels.REPLY_CHANNELS),
        document=label(labels.DOCUMENTS),
        department=lambda code: company.department_name(str(code), "vi" if language == "vi" else "en"),
    )
    env.globals.update(
        STAGES=labels.STAGES,
        CHANNELS=labels.CHANNELS,
        INTAKE_CHANNELS=[c.value for c in labels.INTAKE_CHANNELS],
        DEPARTMENTS=[(d.code, d.name("vi" if language == "vi" else "en")) for d in company.departments],
        ROLES=[role.value for role in UserRole],
        Widget=Widget,
        language=language,
    )
    return env


class WebForm:
    """The routes, holding what they need: the client SDK, the record's queries, the pool and the settings."""

    def __init__(self, complaints: ComplaintClient, pool: asyncpg.Pool, settings: WebSettings) -> None:
        self.complaints = complaints
        self.queries = ComplaintQueries(pool)
        self.pool = pool
        self.settings = settings
        self.environments = {language: _environment(language, complaints.company) for language in LANGUAGES}
        self.sessions = SessionStore(pool, settings)
        self.throttle = SignInThrottle(pool, settings)

    # ---- plumbing ----

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

    async def signed_in(self, request: Request) -> Context:
        ctx = await self.context(request)
        if ctx.user is None:
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise Redirect(f"/login?next={quote(target, safe='')}")
            raise HTTPException(403, ctx.tr.gettext("Sign in first."))
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
        body = (
            self.environments[ctx.tr.language]
            .get_template(template)
            .render(
                user=ctx.user,
                csrf_token=self.csrf_token(request),
                flash=flash,
                lang_urls={language: self.language_url(request, language, page_path) for language in LANGUAGES},
                path=request.url.path,
                now=datetime.now(UTC),
                **values,
            )
        )
        response = HTMLResponse(body, status_code=status)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, ctx.tr.language, max_age=365 * 24 * 3600, samesite="lax", httponly=True
            )
        return response

    async def snapshot(self, ctx: Context, complaint_id: str) -> ComplaintState:
        state = await self.queries.get_snapshot(complaint_id) if _valid_complaint_id(complaint_id) else None
        if state is None:
            raise HTTPException(404, ctx.tr.gettext("No complaint with this id."))
        return state

    # ---- sign-in ----

    async def login_page(self, request: Request) -> Response:
        ctx = await self.context(request)
        if ctx.user is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        return self.render(
            ctx, "login.html", next=_safe_next(request.query_params.get("next")), username="", error=None
        )

    async def login(self, request: Request) -> Response:
        """Throttled before the password is looked at: while an account or an address is over its limit of
        failed sign-ins, even the right password is refused (429), so guessing gains nothing by going faster."""
        ctx = await self.context(request)
        form = await read_form(request)
        self.check_csrf(ctx, form)
        username, password = form.get("username")[:64], form.get("password")
        account, address = username.strip().lower(), _client_address(request)
        target = _safe_next(form.get("next"))
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
            response = self.render(ctx, "login.html", 429, next=target, username=username, error=message)
            response.headers["Retry-After"] = str(int(throttled.seconds) + 1)
            return response
        user = await authenticate(self.pool, username, password) if username and password else None
        if user is None:
            await self.throttle.failed(account, address)
            log.info("sign-in refused", account=await self.audit_name(account), client_address=address)
            return self.render(
                ctx,
                "login.html",
                401,
                next=target,
                username=username,
                error=ctx.tr.gettext("Wrong username or password."),
            )
        await self.throttle.succeeded(account)
        await self.sessions.sign_in(request, user.username)
        log.info("signed in", username=user.username, role=user.role.value, client_address=address)
        return RedirectResponse(target, 303)

    async def audit_name(self, account: str) -> str:
        """The account named in an audit line only when it exists: never what someone typed at random."""
        return account if account and await account_exists(self.pool, account) else "(unknown account)"

    async def logout(self, request: Request) -> Response:
        ctx = await self.context(request)
        form = await read_form(request)
        self.check_csrf(ctx, form)
        await self.sessions.sign_out(request)
        if ctx.user is not None:
            log.info("signed out", username=ctx.user.username)
        return RedirectResponse("/login", 303)

    # ---- inbox ----

    async def inbox(self, request: Request) -> Response:
        ctx = await self.signed_in(request)
        inbox = InboxFilter.from_query(request.query_params)
        if CASE_NUMBER_PATTERN.fullmatch(inbox.q.upper()):  # an agent types `kn-...` as often as `KN-...`
            found = await self.queries.find_by_case_number(inbox.q)
            if found is not None:
                return RedirectResponse(f"/complaints/{quote(found)}", 303)
        page = await load_inbox(self.queries, inbox, self.settings.page_size)

        def page_url(number: int) -> str:
            return "/?" + urlencode(inbox.query_params(page=number))

        return self.render(ctx, "inbox.html", inbox=inbox, page=page, page_url=page_url)

    # ---- intake ----

    async def intake_page(self, request: Request) -> Response:
        ctx = await self.signed_in(request)
        return self.render(ctx, "intake.html", form=IntakeForm(values=blank_intake()))

    async def intake(self, request: Request) -> Response:
        """A start the record refused for good (listed on /refusals) is a 409 with the form as typed: its run
        failed without a case number, and the corrected form, sent with the same complaint key, runs again."""
        ctx = await self.signed_in(request)
        form = await read_form(request)
        self.check_csrf(ctx, form)
        intake_form = read_intake(form, ctx.tr, window=self.complaints.receipt_window)
        if intake_form.intake is None:
            return self.render(ctx, "intake.html", 422, form=intake_form)
        try:
            state = await self.complaints.start(intake_form.intake)
        except IntakeError as exc:
            intake_form.errors[exc.field] = intake_error_text(exc, ctx.tr)
            return self.render(ctx, "intake.html", 422, form=intake_form)
        except ActionFailed as exc:
            log.warning("intake refused", complaint_id=intake_form.intake.complaint_id, reason=exc.reason)
            return self.render(ctx, "intake.html", 409, form=intake_form, refusal=exc.reason)
        log.info("complaint taken in", complaint_id=state.complaint_id, case_number=state.case_number)
        return RedirectResponse(f"/complaints/{quote(state.complaint_id)}/received", 303)

    async def received(self, request: Request) -> Response:
        ctx = await self.signed_in(request)
        state = await self.snapshot(ctx, request.path_params["complaint_id"])
        return self.render(ctx, "received.html", complaint=state)

    # ---- the complaint ----

    async def complaint_page(
        self,
        ctx: Context,
        state: ComplaintState,
        status: int = 200,
        failed: ActionForm | None = None,
        refusal: ActionFailed | None = None,
        timeline_page: int = 1,
    ) -> HTMLResponse:
        assert ctx.user is not None
        complaint_id = state.complaint_id
        page_path = f"/complaints/{quote(complaint_id)}"
        timeline = await self.queries.timeline_page(complaint_id, timeline_page, TIMELINE_PAGE_SIZE)
        if timeline_page > timeline.pages:
            raise HTTPException(404, ctx.tr.gettext("The timeline has no page %(page)s.", page=timeline_page))
        unanswered = False
        try:
            allowed = await asyncio.wait_for(
                self.complaints.allowed_actions(complaint_id, ctx.user.workflow_role), ALLOWED_ACTIONS_TIMEOUT
            )
        except (RPCError, WorkflowQueryFailedError, TimeoutError) as exc:  # no worker, or a run long archived
            log.warning("allowed actions unavailable", complaint_id=complaint_id, error=repr(exc))
            allowed, unanswered = [], state.open
        forms: list[ActionForm] = []
        for action in allowed:
            if failed is not None and failed.action is action:
                forms.append(failed)
            else:
                forms.append(blank_action_form(action, state))
        request_ids = {form.action: new_request_id() for form in forms}
        if failed is not None and failed.request_id:
            request_ids[failed.action] = failed.request_id
        return self.render(
            ctx,
            "complaint.html",
            status,
            page_path=page_path,
            complaint=state,
            timeline=timeline,
            timeline_url=lambda number: page_path + (f"?page={number}" if number > 1 else "") + "#timeline",
            documents=await self.queries.documents(complaint_id),
            forms=forms,
            specs=ACTION_FORMS,
            request_ids=request_ids,
            failed=failed,
            refusal=refusal.reason if refusal else None,
            refusal_text=(
                refused_action_text(refusal.code, refusal.params, ctx.tr, self.complaints.company) if refusal else None
            ),
            refusal_stage=moved_on_to(refusal.code, refusal.params) if refusal else None,
            unanswered=unanswered,
            workflow_url=self.settings.workflow_url(complaint_id),
        )

    async def complaint(self, request: Request) -> Response:
        ctx = await self.signed_in(request)
        timeline_page = page_number(request.query_params)
        state = await self.snapshot(ctx, request.path_params["complaint_id"])
        return await self.complaint_page(ctx, state, timeline_page=timeline_page)

    async def act(self, request: Request) -> Response:
        ctx = await self.signed_in(request)
        assert ctx.user is not None
        form = await read_form(request)
        self.check_csrf(ctx, form)
        try:
            action = Action(request.path_params["action"])
        except ValueError:
            raise HTTPException(404, ctx.tr.gettext("No such action.")) from None
        state = await self.snapshot(ctx, request.path_params["complaint_id"])
        if ctx.user.workflow_role not in RULES[action].roles:
            raise HTTPException(
                403,
                ctx.tr.gettext("Your role may not do this: %(action)s.", action=ctx.tr.gettext(labels.ACTIONS[action])),
            )
        request_id = form.get("request_id")
        if not REQUEST_ID_PATTERN.fullmatch(request_id):
            raise HTTPException(
                400, ctx.tr.gettext("The form is missing its request id. Reload the page and try again.")
            )
        submitted = read_action(action, form, ctx.tr)
        submitted.request_id = request_id
        if action is Action.MERGE_INTO and not submitted.errors:
            primary = await self.queries.find_by_case_number(str(submitted.data.get("primary_case_number", "")))
            if primary is None:
                submitted.errors["primary_case_number"] = ctx.tr.gettext("No complaint with this case number.")
            else:
                submitted.data = {"primary_complaint_id": primary}
        if submitted.errors:
            return await self.complaint_page(ctx, state, 422, failed=submitted)
        try:
            await self.complaints.act(
                state.complaint_id,
                action,
                actor=ctx.user.username,
                role=ctx.user.workflow_role,
                data=submitted.data,
                request_id=request_id,
                door=Door.WEB,
            )
        except ActionFailed as exc:
            log.info(
                "action refused", complaint_id=state.complaint_id, action=action.value, code=exc.code, reason=exc.reason
            )
            fresh = await self.queries.get_snapshot(state.complaint_id) or state
            return await self.complaint_page(ctx, fresh, 409, failed=submitted, refusal=exc)
        log.info("action applied", complaint_id=state.complaint_id, action=action.value, actor=ctx.user.username)
        done = ctx.tr.gettext("Done: %(action)s.", action=ctx.tr.gettext(labels.ACTIONS[action]))
        if action is Action.MANAGER_APPROVAL:  # "done" would not say which way the manager decided
            done = ctx.tr.gettext("Plan approved.") if submitted.data["approved"] else ctx.tr.gettext("Plan rejected.")
        request.session["flash"] = done
        return RedirectResponse(f"/complaints/{quote(state.complaint_id)}", 303)

    async def document(self, request: Request) -> Response:
        ctx = await self.signed_in(request)
        complaint_id = request.path_params["complaint_id"]
        await self.snapshot(ctx, complaint_id)
        kind, cycle = request.path_params["kind"], request.path_params["cycle"]
        for document in await self.queries.documents(complaint_id):
            if document["kind"] == kind and document["cycle"] == cycle:
                return HTMLResponse(str(document["body"]))
        raise HTTPException(404, ctx.tr.gettext("No such document."))

    # ---- users ----

    async def users_page(self, request: Request) -> Response:
        ctx = await self.admin(request)
        return self.render(ctx, "users.html", users=await list_users(self.pool), error=None, values={})

    async def create_user(self, request: Request) -> Response:
        ctx = await self.admin(request)
        form = await read_form(request)
        self.check_csrf(ctx, form)
        try:
            created = await add_user(self.pool, form.get("username"), form.get("password"), form.get("role"))
        except UserError as exc:
            values = {"username": form.get("username")[:64], "role": form.get("role")}
            return self.render(ctx, "users.html", 422, users=await list_users(self.pool), error=str(exc), values=values)
        request.session["flash"] = ctx.tr.gettext("User %(username)s created.", username=created.username)
        return RedirectResponse("/users", 303)

    async def change_user(self, request: Request) -> Response:
        """One change to one user (role, disable, enable, password), each its own small CSRF-protected form.

        The last enabled admin cannot be disabled or demoted (`web.users`); disabling and a new password end
        every session of that user at once."""
        ctx = await self.admin(request)
        assert ctx.user is not None
        form = await read_form(request)
        self.check_csrf(ctx, form)
        username, change = request.path_params["username"], request.path_params["change"]
        try:
            if change == "role":
                changed = await set_role(self.pool, username, form.get("role"))
                done = ctx.tr.gettext("Role of %(username)s changed.", username=changed.username)
            elif change in ("disable", "enable"):
                changed = await set_disabled(self.pool, username, change == "disable")
                if changed.disabled:
                    done = ctx.tr.gettext("%(username)s disabled and signed out.", username=changed.username)
                else:
                    done = ctx.tr.gettext("%(username)s enabled.", username=changed.username)
            elif change == "password":
                changed = await set_password(self.pool, username, form.get("password"))
                done = ctx.tr.gettext(
                    "Password of %(username)s reset; signed out everywhere.", username=changed.username
                )
            else:
                raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        except UserError as exc:
            return self.render(ctx, "users.html", 422, users=await list_users(self.pool), error=str(exc), values={})
        log.info(
            "user changed",
            by=ctx.user.username,
            username=changed.username,
            change=change,
            role=changed.role.value,
            disabled=changed.disabled,
        )
        request.session["flash"] = done
        return RedirectResponse("/users", 303)

    async def admin(
        self, request: Request, forbidden: str = labels.N_("Only an administrator may manage users.")
    ) -> Context:
        ctx = await self.signed_in(request)
        assert ctx.user is not None
        if not ctx.user.is_admin:
            raise HTTPException(403, ctx.tr.gettext(forbidden))
        return ctx

    # ---- record refusals ----

    async def refusals_page(self, request: Request) -> Response:
        """The record writes PostgreSQL refused for good (`ComplaintRecords.refused`), newest first, for an admin
        to look into: event kinds and error names only, since the refused data may be what a customer wrote."""
        ctx = await self.admin(request, labels.N_("Only an administrator may see the refused record writes."))
        return self.render(ctx, "refusals.html", refusals=await self.queries.record_refusals(REFUSALS_SHOWN))

    # ---- errors ----

    async def http_error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, Redirect):
            return RedirectResponse(exc.url, 303)
        assert isinstance(exc, HTTPException)
        try:
            ctx = await self.context(request)
        except QueryRefused:  # a 404 or 405 whose query is bad as well: the status still says the most
            ctx = self.anonymous_context(request)
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
        return self.render(ctx, "error.html", exc.status_code, code=exc.status_code, detail=detail)

    def anonymous_context(self, request: Request) -> Context:
        """For pages rendered when the usual context cannot be had (its query refused, the database away, a bug):
        the reader's language, nobody signed in, nothing looked up."""
        language = pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))
        return Context(request, Translator(language), None)

    async def bad_query(self, request: Request, exc: Exception) -> Response:
        """A query parameter no page can take (`web.query`): 400 naming it, before anything read it."""
        assert isinstance(exc, QueryRefused)
        ctx = self.anonymous_context(request)
        detail = ctx.tr.gettext(
            "This address has a parameter the page cannot take: %(parameter)s (%(problem)s).",
            parameter=exc.parameter,
            problem=exc.problem,
        )
        return self.render(ctx, "error.html", 400, code=400, detail=detail)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        """Whatever no other handler took: our own 500 page, with no detail of the failure (the server logs the
        traceback, since Starlette raises it on). Rendered with nothing that could fail the same way again."""
        route = route_template(request.scope)
        log.error("request failed", method=request.method, route=route, error=type(exc).__name__)
        ctx = self.anonymous_context(request)
        detail = ctx.tr.gettext(
            "Something went wrong on our side. Try again; if it keeps happening, tell an administrator."
        )
        try:
            body = (
                self.environments[ctx.tr.language]
                .get_template("error.html")
                .render(
                    user=None,
                    csrf_token="",
                    flash=None,
                    lang_urls={language: f"/?lang={language}" for language in LANGUAGES},
                    path=request.url.path,
                    now=datetime.now(UTC),
                    code=500,
                    detail=detail,
                )
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
        ctx = self.anonymous_context(request)
        retry_url = None
        if request.method in ("GET", "HEAD"):
            retry_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = self.render(ctx, "unavailable.html", 503, retry_url=retry_url)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @staticmethod
    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    @staticmethod
    async def favicon(request: Request) -> Response:
        """Browsers ask for `/favicon.ico` whatever a page links (a PDF, an error page, a direct visit): send
        them to the icon the pages link, so no visit logs a 404 and the icon has one source."""
        return RedirectResponse("/static/favicon.svg", 301)


def create_app(
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    settings: WebSettings,
    codec: PayloadCodec | None = None,
) -> Starlette:
    """The web form as an ASGI app; serve it with `web.server.serve` (or any ASGI server).

    `codec` (the key ring's `EncryptionCodec`) serves `/codec/decode` and `/codec/encode` for the Temporal UI
    (see `web.codec_endpoint`); without it those answer 404 to whoever may use them. `/metrics` has the request
    counts and latencies (see `web.metrics`) for the holder of `COMPLAINTS_METRICS_TOKEN`. Only the hosts in
    `COMPLAINTS_ALLOWED_HOSTS` are answered.
    """
    web = WebForm(complaints, pool, settings)
    codec_endpoint = CodecEndpoint(codec, pool, settings)
    metrics = WebMetrics(settings.metrics_token)
    handler: Callable[[Request, Exception], Awaitable[Response]] = web.http_error
    unavailable: Callable[[Request, Exception], Awaitable[Response]] = web.records_unavailable
    unavailable_handlers = {error: unavailable for error in (OSError, *UNAVAILABLE_ERRORS)}
    bad_query: Callable[[Request, Exception], Awaitable[Response]] = web.bad_query
    server_error: Callable[[Request, Exception], Awaitable[Response]] = web.server_error
    return WebApp(
        routes=[
            Route("/login", web.login_page, methods=["GET"]),
            Route("/login", web.login, methods=["POST"]),
            Route("/logout", web.logout, methods=["POST"]),
            Route("/", web.inbox, methods=["GET"]),
            Route("/complaints/new", web.intake_page, methods=["GET"]),
            Route("/complaints/new", web.intake, methods=["POST"]),
            Route("/complaints/{complaint_id}", web.complaint, methods=["GET"]),
            Route("/complaints/{complaint_id}/received", web.received, methods=["GET"]),
            Route("/complaints/{complaint_id}/actions/{action}", web.act, methods=["POST"]),
            Route("/complaints/{complaint_id}/documents/{kind}/{cycle:int}", web.document, methods=["GET"]),
            Route("/users", web.users_page, methods=["GET"]),
            Route("/users", web.create_user, methods=["POST"]),
            Route("/users/{username}/{change}", web.change_user, methods=["POST"]),
            Route("/refusals", web.refusals_page, methods=["GET"]),
            Route("/healthz", web.health, methods=["GET"]),
            Route("/favicon.ico", web.favicon, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            *codec_endpoint.routes(),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False),
            Middleware(ServerSessions, sessions=web.sessions),
        ],
        exception_handlers={
            HTTPException: handler,
            Redirect: handler,
            QueryRefused: bad_query,
            **unavailable_handlers,
            500: server_error,
        },
    )
