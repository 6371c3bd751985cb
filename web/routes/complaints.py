"""The agents' pages of complaints: the inbox, intake, the receipt, the complaint page and its documents (its
attachments' downloads are `web.routes.attachments`).

The complaint page offers only what the workflow says is allowed now for this user's role; actions themselves are
`web.routes.actions`, which re-renders this page when the workflow refuses.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.conversation import ConversationMessage, ConversationQueries
from activities.queries import ComplaintQueries
from domain.actions import Action, Door
from domain.fields import CASE_NUMBER_PATTERN, COMPLAINT_ID_PATTERN
from domain.intake import IntakeError
from domain.models import ComplaintState, Stage
from starter.client import ActionFailed, ComplaintClient
from web.clock import local_time
from web.customer_mail import mark_customer_mail_seen
from web.forms import (
    ACTION_FORMS,
    ActionForm,
    IntakeForm,
    blank_action_form,
    blank_intake,
    intake_error_text,
    new_request_id,
    read_form,
    read_intake,
)
from web.inbox import InboxFilter, load_inbox
from web.pages import Context, Pages
from web.query import page_number
from web.refused_actions import moved_on_to, refused_action_text
from web.routes.attachments import AttachmentPages

log = structlog.get_logger(__name__)

ALLOWED_ACTIONS_TIMEOUT = 5.0
"""Seconds to wait for the workflow to say which actions are open; the page still shows the record without."""
TIMELINE_PAGE_SIZE = 50
"""Events on one page of a complaint's timeline: a busy month of work, and a page of tens of kilobytes."""


def wrote_after_closing(state: ComplaintState, conversation: list[ConversationMessage]) -> ConversationMessage | None:
    """The customer's latest own message since the complaint was closed, if it is closed: agents are offered a
    reopen naming it. Only an offer: a customer's mail never reopens a complaint by itself. An answered complaint
    the customer disputed on the portal (its "disagree" form, sent after the answer) is offered a reopen too."""
    if state.stage is Stage.CLOSED and state.closed_at is not None:
        since, only_portal = state.closed_at, False
    elif state.stage is Stage.ANSWERED and state.resolved_at is not None:
        since, only_portal = state.resolved_at, True
    else:
        return None
    written = [
        m
        for m in conversation
        if m.from_customer and m.kind != "received" and m.at > since and (m.door == Door.PORTAL or not only_portal)
    ]
    return written[-1] if written else None


def reopen_reason(offer: ConversationMessage | None, ctx: Context) -> str | None:
    """The reason the reopen form offers: a disagreement sent from the portal is the customer's request to reopen."""
    if offer is None:
        return None
    if offer.door == Door.PORTAL:
        return ctx.tr.gettext(
            "The customer disagrees with the answer and asks to reopen the complaint (on the portal, %(date)s).",
            date=local_time(offer.at),
        )
    return ctx.tr.gettext("The customer wrote on %(date)s, after the complaint was closed.", date=local_time(offer.at))


def _valid_complaint_id(value: str) -> bool:
    """An id that cannot exist is a 404 without asking the database."""
    return COMPLAINT_ID_PATTERN.fullmatch(value) is not None


class ComplaintPages:
    """`/`, `/complaints/new`, `/complaints/{id}`, its receipt and its documents."""

    def __init__(
        self, pages: Pages, complaints: ComplaintClient, queries: ComplaintQueries, attachments: AttachmentPages
    ) -> None:
        self.pages = pages
        self.complaints = complaints
        self.queries = queries
        self.conversations = ConversationQueries(pages.pool)
        self.attachments = attachments

    def routes(self) -> list[Route]:
        return [
            Route("/", self.inbox, methods=["GET"]),
            Route("/complaints/new", self.intake_page, methods=["GET"]),
            Route("/complaints/new", self.intake, methods=["POST"]),
            Route("/complaints/{complaint_id}", self.complaint, methods=["GET"]),
            Route("/complaints/{complaint_id}/received", self.received, methods=["GET"]),
            Route("/complaints/{complaint_id}/documents/{kind}/{cycle:int}", self.document, methods=["GET"]),
        ]

    async def snapshot(self, ctx: Context, complaint_id: str) -> ComplaintState:
        state = await self.queries.get_snapshot(complaint_id) if _valid_complaint_id(complaint_id) else None
        if state is None:
            raise HTTPException(404, ctx.tr.gettext("No complaint with this id."))
        return state

    # ---- inbox ----

    async def inbox(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        inbox = InboxFilter.from_query(request.query_params)
        if CASE_NUMBER_PATTERN.fullmatch(inbox.q.upper()):  # an agent types `kn-...` as often as `KN-...`
            found = await self.queries.find_by_case_number(inbox.q)
            if found is not None:
                return RedirectResponse(f"/complaints/{quote(found)}", 303)
        page = await load_inbox(self.queries, inbox, self.pages.settings.page_size)

        def page_url(number: int) -> str:
            return "/?" + urlencode(inbox.query_params(page=number))

        return self.pages.render(ctx, "inbox.html", inbox=inbox, page=page, page_url=page_url)

    # ---- intake ----

    async def intake_page(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        return self.pages.render(ctx, "intake.html", form=IntakeForm(values=blank_intake()))

    async def intake(self, request: Request) -> Response:
        """A start the record refused for good (listed on /refusals) is a 409 with the form as typed: its run
        failed without a case number, and the corrected form, sent with the same complaint key, runs again."""
        ctx = await self.pages.signed_in(request)
        form = await read_form(request)
        self.pages.check_csrf(ctx, form)
        intake_form = read_intake(form, ctx.tr, window=self.complaints.receipt_window)
        if intake_form.intake is None:
            return self.pages.render(ctx, "intake.html", 422, form=intake_form)
        try:
            state = await self.complaints.start(intake_form.intake)
        except IntakeError as exc:
            intake_form.errors[exc.field] = intake_error_text(exc, ctx.tr)
            return self.pages.render(ctx, "intake.html", 422, form=intake_form)
        except ActionFailed as exc:
            log.warning("intake refused", complaint_id=intake_form.intake.complaint_id, reason=exc.reason)
            return self.pages.render(ctx, "intake.html", 409, form=intake_form, refusal=exc.reason)
        log.info("complaint taken in", complaint_id=state.complaint_id, case_number=state.case_number)
        return RedirectResponse(f"/complaints/{quote(state.complaint_id)}/received", 303)

    async def received(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        state = await self.snapshot(ctx, request.path_params["complaint_id"])
        return self.pages.render(ctx, "received.html", complaint=state)

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
        conversation = await self.conversations.conversation(complaint_id)
        reopen_offer = wrote_after_closing(state, conversation) if Action.REOPEN in allowed else None
        return self.pages.render(
            ctx,
            "complaint.html",
            status,
            page_path=page_path,
            complaint=state,
            timeline=timeline,
            timeline_url=lambda number: page_path + (f"?page={number}" if number > 1 else "") + "#timeline",
            documents=await self.queries.documents(complaint_id),
            attachments=await self.attachments.listed(complaint_id),
            conversation=conversation,
            reopen_offer=reopen_offer,
            reopen_reason=reopen_reason(reopen_offer, ctx),
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
            workflow_url=self.pages.settings.workflow_url(complaint_id),
        )

    async def complaint(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        timeline_page = page_number(request.query_params)
        state = await self.snapshot(ctx, request.path_params["complaint_id"])
        assert ctx.user is not None
        await mark_customer_mail_seen(self.pages.pool, state.complaint_id, ctx.user.username)
        return await self.complaint_page(ctx, state, timeline_page=timeline_page)

    async def document(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        complaint_id = request.path_params["complaint_id"]
        await self.snapshot(ctx, complaint_id)
        kind, cycle = request.path_params["kind"], request.path_params["cycle"]
        for document in await self.queries.documents(complaint_id):
            if document["kind"] == kind and document["cycle"] == cycle:
                return HTMLResponse(str(document["body"]))
        raise HTTPException(404, ctx.tr.gettext("No such document."))
