"""The customers' portal, `/portal`: complain online, follow a case (by its number and a contact, or by the signed
link in the company's letters), read its documents and conversation, answer a request, disagree, withdraw.

No staff session is required or read here, and no staff page is rendered: the portal has its own cookie and its
own templates (`portal*.html`, no staff navigation). Every action goes through `ComplaintClient` as role `system`,
door `portal`, actor `customer`, so the workflow's rules decide as for every door; a refusal is worded from its
code in the reader's language. Every form carries the portal cookie's CSRF token, a honeypot field and a signed
stamp (`web.portal.FormStamps`), whose one-time id makes a double submit one complaint or one action.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import structlog
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.attachments import AttachmentStore, AttachmentUnreadable
from activities.conversation import ConversationMessage, ConversationQueries
from activities.queries import ComplaintQueries
from domain.actions import MAX_ATTACHMENTS, Action, Door, Role
from domain.attachments import (
    ALLOWED_TYPES,
    ATTACHMENT_ID_PATTERN,
    AttachmentRef,
    AttachmentRefusal,
    AttachmentRefused,
    allowed_type,
    check_size,
)
from domain.case_link import CaseLinkRefused, LinkRefusal
from domain.fields import COMPLAINT_ID_PATTERN, MAX_TEXT_CHARS
from domain.intake import Intake, IntakeError
from domain.models import ComplaintState, Stage
from domain.refusals import Refusal
from starter.client import ActionFailed, ComplaintClient
from web import labels
from web.forms import FormData, field_errors, intake_error_text, problem_text, read_form, refusal_text
from web.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, pick_language
from web.labels import N_
from web.pages import CSRF_FIELD, Pages, Redirect
from web.portal import (
    ACTOR,
    ANSWERABLE,
    CUSTOMER_DOCUMENTS,
    FORM_STAGES,
    FormStamps,
    PortalAccess,
    PortalCookies,
    PortalThrottle,
    StampRefused,
    customer_stage,
    find_case,
    offered_forms,
    portal_complaint_id,
    portal_request_id,
)
from web.query import check_query, one_of
from web.routes.attachments import attachment_response
from web.throttle import Throttled, client_address
from web.uploads import PostedForm, UploadedFile, read_posted_form

log = structlog.get_logger(__name__)

STAMP_FIELD = "stamp"
HONEYPOT_FIELD = "website"
"""Hidden by the stylesheet and labelled "leave empty": a person never fills it, a form-filling robot does."""
MAX_FILES = 5
"""Files one portal form takes: evidence, not an archive."""
ACCEPT = ",".join([*ALLOWED_TYPES, *ALLOWED_TYPES.values()])
"""What the file inputs offer to pick: the attachment store's allowlist (a hint to the browser; the store decides)."""
COMPLAINT_FIELDS = ("customer.name", "customer.phone", "customer.email", "service", "subject", "description")
DONE = {
    "answer": N_("Thank you: we have your answer and will continue with your complaint."),
    "disagree": N_("Thank you: we have your message. Staff will review the answer and contact you."),
    "withdraw": N_("Your complaint is withdrawn."),
}
FORM_ACTIONS = {"answer": Action.CUSTOMER_INFO_RECEIVED, "disagree": Action.CUSTOMER_WROTE, "withdraw": Action.WITHDRAW}
FORM_TEXT = {"answer": "summary", "disagree": "text", "withdraw": "reason"}
"""Each portal form's text, under the name its action's data model gives it."""
LINK_REFUSALS = {
    LinkRefusal.MALFORMED: N_("This link is not valid. Open your case with its number and your phone or e-mail."),
    LinkRefusal.EXPIRED: N_(
        "This link has expired. Open your case with its number and your phone or e-mail, or use the link in our "
        "latest message."
    ),
}
ATTACHMENT_REFUSALS = {
    AttachmentRefusal.TYPE_NOT_ALLOWED: N_(
        "“%(name)s”: this type of file is not accepted. Send pictures, PDF, text, CSV, Word, Excel or OpenDocument "
        "files."
    ),
    AttachmentRefusal.TOO_LARGE: N_("“%(name)s” is larger than %(max)s MB."),
    AttachmentRefusal.EMPTY: N_("“%(name)s” is empty."),
}


@dataclass
class Visit:
    """One request to the portal: the reader's language and what the browser holds."""

    request: Request
    tr: Translator
    access: PortalAccess


@dataclass
class PortalForm:
    """A portal form as shown again: what was typed, the problems by field, its stamp, and a refusal if any."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    stamp: str = ""
    refusal: str | None = None


class Unavailable(Exception):
    """Temporal did not answer in time: the customer is asked to send the same form again."""


PHONE_READABLE = (
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<style>@media (max-width: 40rem) { body { margin: 1rem; } "
    ".heading, .signatures { flex-direction: column; gap: 1rem; } td { display: block; } }</style>\n"
)
"""What a filed document (a letter laid out for A4, as it was filed) gets when a customer opens it on a phone."""


def readable_on_a_phone(document: str) -> str:
    """The filed document as it is, told to fit a phone's width: the letter itself is never changed."""
    return document.replace("</head>", PHONE_READABLE + "</head>", 1)


def portal_refusal(exc: ActionFailed, tr: Translator) -> str:
    """A refused action in the customer's words: never the workflow's English sentence."""
    params: Mapping[str, Any] = exc.params or {}
    if exc.code == Refusal.STAGE_NOT_ALLOWED and str(params.get("stage")) in set(Stage):
        stage = tr.gettext(labels.CUSTOMER_STAGES[customer_stage(Stage(str(params["stage"])))])
        return tr.gettext("This is no longer possible: your complaint is now “%(stage)s”.", stage=stage)
    if exc.code == Refusal.FIELD_INVALID:
        problem = str(params.get("problem", ""))
        worded = refusal_text(problem, params, tr) or problem_text(
            {"type": problem, "loc": (), "msg": "", "input": "", "ctx": dict(params)}, tr
        )
        return tr.gettext("Your text was not accepted: %(problem)s", problem=worded)
    if exc.code is None:
        return tr.gettext(
            "This complaint can no longer be changed here. Send us a new complaint, or call us quoting its number."
        )
    return tr.gettext("This could not be done. Reload the page and try again.")


class PortalPages:
    """`/portal` and everything under it."""

    def __init__(
        self,
        pages: Pages,
        complaints: ComplaintClient,
        queries: ComplaintQueries,
        store: AttachmentStore | None,
    ) -> None:
        self.pages = pages
        self.settings = pages.settings
        self.complaints = complaints
        self.queries = queries
        self.store = store
        self.conversations = ConversationQueries(pages.pool)
        self.cookies = PortalCookies(self.settings)
        self.stamps = FormStamps(self.settings, self.settings.portal_form_min_seconds)
        self.throttle = PortalThrottle(pages.pool, self.settings)
        self.links = self.settings.case_links()
        self.max_mb = max(1, (store.max_bytes if store else 0) // (1024 * 1024))

    def routes(self) -> list[Route]:
        case = "/portal/case/{complaint_id}"
        return [
            Route("/portal", self.start, methods=["GET"]),
            Route("/portal/complain", self.complain_page, methods=["GET"]),
            Route("/portal/complain", self.complain, methods=["POST"]),
            Route("/portal/follow", self.follow_page, methods=["GET"]),
            Route("/portal/follow", self.follow, methods=["POST"]),
            Route("/portal/c/{token}", self.link, methods=["GET"]),
            Route("/portal/leave", self.leave, methods=["POST"]),
            Route(case, self.case, methods=["GET"]),
            Route(case + "/received", self.received, methods=["GET"]),
            Route(case + "/documents/{kind}/{cycle:int}", self.document, methods=["GET"]),
            Route(case + "/files/{attachment_id}", self.file, methods=["GET"]),
            Route(case + "/{form}", self.act, methods=["POST"]),
        ]

    # ---- rendering ----

    def visit(self, request: Request) -> Visit:
        check_query(request.query_params)
        language = pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))
        return Visit(request, Translator(language), self.cookies.load(request))

    def render(
        self, visit: Visit, template: str, status: int = 200, *, page_path: str | None = None, **values: Any
    ) -> HTMLResponse:
        request = visit.request
        body = self.pages.templates.render(
            visit.tr.language,
            template,
            csrf_token=visit.access.csrf_token(),
            lang_urls={language: Pages.language_url(request, language, page_path) for language in LANGUAGES},
            path=request.url.path,
            now=datetime.now(UTC),
            **values,
        )
        response = HTMLResponse(body, status_code=status)
        self.cookies.save(visit.access, response)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANGUAGE_COOKIE, visit.tr.language, max_age=365 * 24 * 3600, samesite="lax", httponly=True
            )
        return response

    def error(self, request: Request, code: int, detail: str, *, retry_url: str | None = None) -> HTMLResponse:
        """An error page of the portal's own (for `web.errors` too): no staff page, no staff link."""
        visit = Visit(request, Translator(pick_language(None, request.cookies.get(LANGUAGE_COOKIE))), PortalAccess())
        with contextlib.suppress(Exception):  # a refused query string: the error itself is what is shown
            visit = self.visit(request)
        page_path = None if request.method in ("GET", "HEAD") else "/portal"  # a language link never re-posts
        return self.render(
            visit, "portal_error.html", code, page_path=page_path, code=code, detail=detail, retry_url=retry_url
        )

    def unavailable(self, request: Request) -> HTMLResponse:
        tr = Translator(pick_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)))
        retry = request.url.path if request.method in ("GET", "HEAD") else None
        return self.error(
            request,
            503,
            tr.gettext("Our complaint system is not reachable right now. Nothing was lost; try again in a moment."),
            retry_url=retry,
        )

    def throttled(self, visit: Visit, throttled: Throttled) -> HTMLResponse:
        detail = visit.tr.ngettext(
            "Too many attempts. Try again in %(num)d minute.",
            "Too many attempts. Try again in %(num)d minutes.",
            throttled.minutes,
        )
        response = self.render(
            visit, "portal_error.html", 429, page_path="/portal", code=429, detail=detail, retry_url=None
        )
        response.headers["Retry-After"] = str(int(throttled.seconds))
        return response

    # ---- reading a form ----

    async def posted(self, visit: Visit, *, files: bool) -> PostedForm:
        """The post, its CSRF token checked (403 otherwise)."""
        request = visit.request
        posted = (
            await read_posted_form(request, self.settings.portal_max_upload_bytes)
            if files
            else PostedForm(await read_form(request), [])
        )
        if not visit.access.csrf_ok(posted.fields.get(CSRF_FIELD)):
            raise HTTPException(
                403,
                visit.tr.gettext("The form has expired or did not come from this site. Reload the page and try again."),
            )
        return posted

    def submission_id(self, form: FormData) -> str:
        """The form's one-time id; `StampRefused` for a robot's post (honeypot filled, too fast, not ours)."""
        if form.get(HONEYPOT_FIELD):
            raise StampRefused("the honeypot was filled")
        return self.stamps.read(form.get(STAMP_FIELD))

    def file_errors(self, visit: Visit, files: list[UploadedFile]) -> str | None:
        """Why the files cannot be kept, checked before any is stored; None when all can."""
        if len(files) > MAX_FILES:
            return visit.tr.gettext("Send at most %(max)s files.", max=MAX_FILES)
        max_bytes = self.store.max_bytes if self.store else 0
        for upload in files:
            try:
                allowed_type(upload.content_type)
                check_size(len(upload.data), max_bytes)
            except AttachmentRefused as refused:
                return visit.tr.gettext(ATTACHMENT_REFUSALS[refused.code], name=upload.name[:80], max=self.max_mb)
        if files and self.store is None:
            return visit.tr.gettext("Files cannot be received right now. Send your text without them.")
        return None

    async def keep(self, complaint_id: str, files: list[UploadedFile]) -> list[AttachmentRef]:
        refs: list[AttachmentRef] = []
        assert self.store is not None or not files
        for upload in files[:MAX_ATTACHMENTS]:
            assert self.store is not None
            ref = await self.store.put(complaint_id, upload.name, upload.content_type, upload.data)
            if ref not in refs:
                refs.append(ref)
        return refs

    async def with_temporal(self, call: Any) -> Any:
        try:
            return await asyncio.wait_for(call, self.settings.portal_temporal_timeout_seconds)
        except (RPCError, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            log.warning("portal: complaints unavailable", error=type(exc).__name__)
            raise Unavailable from None

    # ---- start ----

    async def start(self, request: Request) -> Response:
        visit = self.visit(request)
        left = one_of(request.query_params, "done", frozenset({"left"}), "") == "left"
        return self.render(visit, "portal_start.html", left=left)

    # ---- complain online ----

    def complain_form(self, visit: Visit, form: PortalForm, status: int = 200) -> HTMLResponse:
        return self.render(
            visit,
            "portal_complain.html",
            status,
            page_path="/portal/complain",
            form=form,
            accept=ACCEPT,
            max_files=MAX_FILES,
            max_mb=self.max_mb,
        )

    async def complain_page(self, request: Request) -> Response:
        visit = self.visit(request)
        blank = PortalForm(values=dict.fromkeys(COMPLAINT_FIELDS, ""), stamp=self.stamps.new())
        return self.complain_form(visit, blank)

    def read_complaint(self, visit: Visit, fields: FormData, complaint_id: str) -> tuple[PortalForm, Intake | None]:
        tr = visit.tr
        form = PortalForm(values={name: fields.get(name).strip() for name in COMPLAINT_FIELDS})
        values = form.values
        if not values["customer.phone"] and not values["customer.email"]:
            form.errors["customer.phone"] = tr.gettext("Give a phone number or an e-mail address (or both).")
        customer = {"name": values["customer.name"]}
        customer |= {part: values[f"customer.{part}"] for part in ("phone", "email") if values[f"customer.{part}"]}
        raw: dict[str, Any] = {
            "customer": customer,
            "channel": "web",
            "subject": values["subject"],
            "description": values["description"],
            "complaint_id": complaint_id,
        }
        if values["service"]:
            raw["service"] = values["service"]
        try:
            intake = Intake.model_validate(raw)
        except ValidationError as exc:
            for name, problem in field_errors(exc, tr, rename={"customer": "customer.phone"}).items():
                form.errors.setdefault(name, problem)
            return form, None
        return form, None if form.errors else intake

    async def complain(self, request: Request) -> Response:
        visit = self.visit(request)
        posted = await self.posted(visit, files=True)
        stamp = posted.fields.get(STAMP_FIELD)
        try:
            submission = self.submission_id(posted.fields)
        except StampRefused as refused:
            log.info("portal: form refused", form="complain", reason=str(refused))
            form, _ = self.read_complaint(visit, posted.fields, "refused")
            form.errors.clear()
            form.stamp = self.stamps.new()
            form.refusal = visit.tr.gettext("Please check your form and send it again.")
            return self.complain_form(visit, form, 400)
        throttled = await self.throttle.complaint(client_address(request))
        if throttled is not None:
            return self.throttled(visit, throttled)
        complaint_id = portal_complaint_id(submission)
        form, intake = self.read_complaint(visit, posted.fields, complaint_id)
        form.stamp = stamp
        problem = self.file_errors(visit, posted.files)
        if problem:
            form.errors["files"] = problem
        if intake is None or problem:
            return self.complain_form(visit, form, 422)
        refs = await self.keep(complaint_id, posted.files)
        try:
            state = await self.with_temporal(self.complaints.start(intake.model_copy(update={"attachments": refs})))
        except IntakeError as exc:
            form.errors[exc.field] = intake_error_text(exc, visit.tr)
            return self.complain_form(visit, form, 422)
        except ActionFailed:
            log.warning("portal: complaint refused by the record", complaint_id=complaint_id)
            form.refusal = visit.tr.gettext("Your complaint could not be registered. Please call us.")
            return self.complain_form(visit, form, 409)
        except Unavailable:
            form.refusal = visit.tr.gettext(
                "We could not take your complaint just now. Send the form again in a moment: it will not be "
                "registered twice."
            )
            return self.complain_form(visit, form, 503)
        log.info("portal: complaint taken", complaint_id=state.complaint_id, files=len(refs))
        visit.access.grant(state.complaint_id)
        response = RedirectResponse(f"/portal/case/{quote(state.complaint_id)}/received", 303)
        self.cookies.save(visit.access, response)
        return response

    # ---- follow ----

    def follow_form(self, visit: Visit, form: PortalForm, status: int = 200) -> HTMLResponse:
        return self.render(visit, "portal_follow.html", status, page_path="/portal/follow", form=form)

    async def follow_page(self, request: Request) -> Response:
        visit = self.visit(request)
        blank = PortalForm(values={"case_number": "", "contact": ""}, stamp=self.stamps.new())
        return self.follow_form(visit, blank)

    async def follow(self, request: Request) -> Response:
        visit = self.visit(request)
        posted = await self.posted(visit, files=False)
        fields = posted.fields
        form = PortalForm(
            values={
                "case_number": fields.get("case_number").strip()[:40],
                "contact": fields.get("contact").strip()[:254],
            },
            stamp=self.stamps.new(),
        )
        try:
            self.submission_id(fields)
        except StampRefused as refused:
            log.info("portal: form refused", form="follow", reason=str(refused))
            form.refusal = visit.tr.gettext("Please check your form and send it again.")
            return self.follow_form(visit, form, 400)
        if not form.values["case_number"] or not form.values["contact"]:
            form.refusal = visit.tr.gettext("Give the case number and your phone number or e-mail address.")
            return self.follow_form(visit, form, 422)
        throttled = await self.throttle.lookup(client_address(request), form.values["case_number"])
        if throttled is not None:
            return self.throttled(visit, throttled)
        found = await find_case(self.pages.pool, form.values["case_number"], form.values["contact"])
        if found is None:
            form.refusal = visit.tr.gettext(
                "No case matches this number and this phone number or e-mail address. Check both and try again."
            )
            return self.follow_form(visit, form, 422)
        return self.opened(visit, found)

    async def link(self, request: Request) -> Response:
        visit = self.visit(request)
        try:
            complaint_id = self.links.read(request.path_params["token"], datetime.now(UTC))
        except CaseLinkRefused as refused:
            log.info("portal: link refused", reason=refused.reason.value)
            code = 410 if refused.reason is LinkRefusal.EXPIRED else 404
            detail = visit.tr.gettext(LINK_REFUSALS[refused.reason])
            return self.render(visit, "portal_error.html", code, code=code, detail=detail, retry_url=None)
        return self.opened(visit, complaint_id)

    def opened(self, visit: Visit, complaint_id: str) -> Response:
        """This browser may now see the case (a lookup matched, or a letter's link was good): to its page."""
        visit.access.grant(complaint_id)
        response = RedirectResponse(f"/portal/case/{quote(complaint_id)}", 303)
        self.cookies.save(visit.access, response)
        return response

    async def leave(self, request: Request) -> Response:
        """This browser forgets every case it opened (a shared computer, a borrowed phone)."""
        visit = self.visit(request)
        await self.posted(visit, files=False)
        visit.access.grants.clear()
        visit.access.changed = True
        response = RedirectResponse("/portal?done=left", 303)
        self.cookies.save(visit.access, response)
        return response

    # ---- the case ----

    async def granted_case(self, visit: Visit) -> ComplaintState:
        """The case of the path, if this browser may see it: else to the follow page (nothing said about the case)."""
        complaint_id = visit.request.path_params["complaint_id"]
        if not COMPLAINT_ID_PATTERN.fullmatch(complaint_id) or not visit.access.may_see(complaint_id):
            raise Redirect("/portal/follow")
        state = await self.queries.get_snapshot(complaint_id)
        if state is None:
            raise HTTPException(404, visit.tr.gettext("This case is not in our records yet. Try again in a moment."))
        return state

    async def received(self, request: Request) -> Response:
        visit = self.visit(request)
        state = await self.granted_case(visit)
        return self.render(visit, "portal_received.html", complaint=state)

    async def open_request(self, state: ComplaintState) -> dict[str, Any] | None:
        """What the company asked for and is waiting for: the latest request for information, while it is open."""
        if state.stage not in ANSWERABLE:
            return None
        data = await self.pages.pool.fetchval(
            "SELECT data FROM complaint_events WHERE complaint_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1",
            state.complaint_id,
            Action.REQUEST_INFO.value,
        )
        return data if isinstance(data, dict) else None

    async def conversation(self, complaint_id: str) -> list[ConversationMessage]:
        """Messages to the customer and the customer's own: an agent's summary of a call is staff's record."""
        return [
            message
            for message in await self.conversations.conversation(complaint_id)
            if message.direction == "out" or message.from_customer
        ]

    async def case_page(
        self,
        visit: Visit,
        state: ComplaintState,
        status: int = 200,
        failed: str | None = None,
        form: PortalForm | None = None,
    ) -> HTMLResponse:
        documents = [
            document
            for document in await self.queries.documents(state.complaint_id)
            if document["kind"] in set(CUSTOMER_DOCUMENTS)
        ]
        forms: dict[str, PortalForm] = {}
        offered = offered_forms(state, datetime.now(UTC))
        for name in FORM_STAGES:
            if name in offered or name == failed:
                forms[name] = form if name == failed and form is not None else PortalForm(stamp=self.stamps.new())
        done = one_of(visit.request.query_params, "done", frozenset(DONE), "")
        return self.render(
            visit,
            "portal_case.html",
            status,
            page_path=f"/portal/case/{quote(state.complaint_id)}",
            complaint=state,
            request_for_info=await self.open_request(state),
            documents=documents,
            conversation=await self.conversation(state.complaint_id),
            forms=forms,
            done=visit.tr.gettext(DONE[done]) if done and status == 200 else None,
            accept=ACCEPT,
            max_files=MAX_FILES,
            max_mb=self.max_mb,
            max_chars=MAX_TEXT_CHARS,
        )

    async def case(self, request: Request) -> Response:
        visit = self.visit(request)
        return await self.case_page(visit, await self.granted_case(visit))

    async def document(self, request: Request) -> Response:
        visit = self.visit(request)
        state = await self.granted_case(visit)
        kind, cycle = request.path_params["kind"], request.path_params["cycle"]
        if kind in set(CUSTOMER_DOCUMENTS):
            for document in await self.queries.documents(state.complaint_id):
                if document["kind"] == kind and document["cycle"] == cycle:
                    return HTMLResponse(readable_on_a_phone(str(document["body"])))
        raise HTTPException(404, visit.tr.gettext("No such document."))

    async def file(self, request: Request) -> Response:
        visit = self.visit(request)
        state = await self.granted_case(visit)
        attachment_id = request.path_params["attachment_id"]
        found = None
        if self.store is not None and ATTACHMENT_ID_PATTERN.fullmatch(attachment_id):
            try:
                found = await self.store.get(state.complaint_id, attachment_id)
            except AttachmentUnreadable:
                found = None
        if found is None:  # another complaint's file is none of this one's
            raise HTTPException(404, visit.tr.gettext("No such file."))
        ref, data = found
        return attachment_response(ref, data)

    # ---- the customer's actions ----

    async def act(self, request: Request) -> Response:
        visit = self.visit(request)
        name = request.path_params["form"]
        if name not in FORM_ACTIONS:
            raise HTTPException(404, visit.tr.gettext("This page does not exist."))
        state = await self.granted_case(visit)
        posted = await self.posted(visit, files=name == "answer")
        form = PortalForm(values={"text": posted.fields.get("text").strip()}, stamp=posted.fields.get(STAMP_FIELD))
        try:
            submission = self.submission_id(posted.fields)
        except StampRefused as refused:
            log.info("portal: form refused", form=name, reason=str(refused))
            form.stamp = self.stamps.new()
            form.refusal = visit.tr.gettext("Please check your form and send it again.")
            return await self.case_page(visit, state, 400, failed=name, form=form)
        throttled = await self.throttle.action(state.complaint_id)
        if throttled is not None:
            return self.throttled(visit, throttled)
        text = form.values["text"]
        if not text:
            form.errors["text"] = visit.tr.gettext("Required.")
        elif len(text) > MAX_TEXT_CHARS:
            form.errors["text"] = visit.tr.gettext("Too long: at most %(max)s characters.", max=MAX_TEXT_CHARS)
        problem = self.file_errors(visit, posted.files)
        if problem:
            form.errors["files"] = problem
        if form.errors:
            return await self.case_page(visit, state, 422, failed=name, form=form)
        action = FORM_ACTIONS[name]
        data: dict[str, Any] = {FORM_TEXT[name]: text}
        if name == "answer":
            refs = await self.keep(state.complaint_id, posted.files)
            data["attachments"] = [ref.model_dump(mode="json") for ref in refs]
        try:
            await self.with_temporal(
                self.complaints.act(
                    state.complaint_id,
                    action,
                    actor=ACTOR,
                    role=Role.SYSTEM,
                    data=data,
                    request_id=portal_request_id(submission),
                    door=Door.PORTAL,
                )
            )
        except ActionFailed as exc:
            log.info("portal: action refused", complaint_id=state.complaint_id, action=action.value, code=exc.code)
            form.refusal = portal_refusal(exc, visit.tr)
            fresh = await self.queries.get_snapshot(state.complaint_id) or state
            return await self.case_page(visit, fresh, 409, failed=name, form=form)
        except Unavailable:
            form.refusal = visit.tr.gettext(
                "We could not take this just now. Send the form again in a moment: it will not be taken twice."
            )
            return await self.case_page(visit, state, 503, failed=name, form=form)
        log.info("portal: action applied", complaint_id=state.complaint_id, action=action.value)
        return RedirectResponse(f"/portal/case/{quote(state.complaint_id)}?done={name}", 303)
