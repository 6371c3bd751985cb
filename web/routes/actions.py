"""An action on a complaint, through `ComplaintClient.act` (the workflow's update, with its validator).

The web form is one more door to the same rules: when the workflow still refuses (a stale page, a plan already
decided), its reason is shown on the complaint page as it now stands and nothing changes.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from domain.actions import Action, Door
from domain.fields import REQUEST_ID_PATTERN
from domain.lifecycle import RULES
from starter.client import ActionFailed
from web import labels
from web.forms import read_action, read_form
from web.routes.complaints import ComplaintPages

log = structlog.get_logger(__name__)


class ActionRoutes:
    """`POST /complaints/{complaint_id}/actions/{action}`."""

    def __init__(self, complaint_pages: ComplaintPages) -> None:
        self.complaint_pages = complaint_pages
        self.pages = complaint_pages.pages

    def routes(self) -> list[Route]:
        return [Route("/complaints/{complaint_id}/actions/{action}", self.act, methods=["POST"])]

    async def act(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        assert ctx.user is not None
        form = await read_form(request)
        self.pages.check_csrf(ctx, form)
        try:
            action = Action(request.path_params["action"])
        except ValueError:
            raise HTTPException(404, ctx.tr.gettext("No such action.")) from None
        complaint_pages = self.complaint_pages
        state = await complaint_pages.snapshot(ctx, request.path_params["complaint_id"])
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
            primary = await complaint_pages.queries.find_by_case_number(
                str(submitted.data.get("primary_case_number", ""))
            )
            if primary is None:
                submitted.errors["primary_case_number"] = ctx.tr.gettext("No complaint with this case number.")
            else:
                submitted.data = {"primary_complaint_id": primary}
        if submitted.errors:
            return await complaint_pages.complaint_page(ctx, state, 422, failed=submitted)
        try:
            await complaint_pages.complaints.act(
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
            fresh = await complaint_pages.queries.get_snapshot(state.complaint_id) or state
            return await complaint_pages.complaint_page(ctx, fresh, 409, failed=submitted, refusal=exc)
        log.info("action applied", complaint_id=state.complaint_id, action=action.value, actor=ctx.user.username)
        done = ctx.tr.gettext("Done: %(action)s.", action=ctx.tr.gettext(labels.ACTIONS[action]))
        if action is Action.MANAGER_APPROVAL:  # "done" would not say which way the manager decided
            done = ctx.tr.gettext("Plan approved.") if submitted.data["approved"] else ctx.tr.gettext("Plan rejected.")
        request.session["flash"] = done
        return RedirectResponse(f"/complaints/{quote(state.complaint_id)}", 303)
