"""The administrators' pages: users (add, change role, disable, enable, reset password), the record writes
PostgreSQL refused for good, and the mail `complaints dev` caught instead of sending."""

from __future__ import annotations

import asyncio

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from activities.caught_mail import CaughtMail
from activities.queries import ComplaintQueries
from web import labels
from web.forms import read_form
from web.pages import Pages
from web.users import UserError, add_user, list_users, set_disabled, set_password, set_role

log = structlog.get_logger(__name__)

REFUSALS_SHOWN = 100
"""Record refusals on the admins' page: the latest are what needs looking into; older ones are in the table."""
CAUGHT_MAIL_SHOWN = 200
"""Caught messages listed, newest first; the older ones stay in the data directory's folder."""


class AdminPages:
    """`/users`, `/users/{username}/{change}`, `/refusals` and `/mail`, for administrators only."""

    def __init__(self, pages: Pages, queries: ComplaintQueries) -> None:
        self.pages = pages
        self.queries = queries

    def routes(self) -> list[Route]:
        return [
            Route("/users", self.users_page, methods=["GET"]),
            Route("/users", self.create_user, methods=["POST"]),
            Route("/users/{username}/{change}", self.change_user, methods=["POST"]),
            Route("/refusals", self.refusals_page, methods=["GET"]),
            Route("/mail", self.caught_mail_page, methods=["GET"]),
            Route("/mail/{name}", self.caught_message_page, methods=["GET"]),
        ]

    # ---- users ----

    async def users_page(self, request: Request) -> Response:
        ctx = await self.pages.admin(request)
        return self.pages.render(ctx, "users.html", users=await list_users(self.pages.pool), error=None, values={})

    async def create_user(self, request: Request) -> Response:
        ctx = await self.pages.admin(request)
        form = await read_form(request)
        self.pages.check_csrf(ctx, form)
        pool = self.pages.pool
        try:
            created = await add_user(pool, form.get("username"), form.get("password"), form.get("role"))
        except UserError as exc:
            values = {"username": form.get("username")[:64], "role": form.get("role")}
            return self.pages.render(
                ctx, "users.html", 422, users=await list_users(pool), error=str(exc), values=values
            )
        request.session["flash"] = ctx.tr.gettext("User %(username)s created.", username=created.username)
        return RedirectResponse("/users", 303)

    async def change_user(self, request: Request) -> Response:
        """One change to one user (role, disable, enable, password), each its own small CSRF-protected form.

        The last enabled admin cannot be disabled or demoted (`web.users`); disabling and a new password end
        every session of that user at once."""
        ctx = await self.pages.admin(request)
        assert ctx.user is not None
        form = await read_form(request)
        self.pages.check_csrf(ctx, form)
        pool = self.pages.pool
        username, change = request.path_params["username"], request.path_params["change"]
        try:
            if change == "role":
                changed = await set_role(pool, username, form.get("role"))
                done = ctx.tr.gettext("Role of %(username)s changed.", username=changed.username)
            elif change in ("disable", "enable"):
                changed = await set_disabled(pool, username, change == "disable")
                if changed.disabled:
                    done = ctx.tr.gettext("%(username)s disabled and signed out.", username=changed.username)
                else:
                    done = ctx.tr.gettext("%(username)s enabled.", username=changed.username)
            elif change == "password":
                changed = await set_password(pool, username, form.get("password"))
                done = ctx.tr.gettext(
                    "Password of %(username)s reset; signed out everywhere.", username=changed.username
                )
            else:
                raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        except UserError as exc:
            return self.pages.render(ctx, "users.html", 422, users=await list_users(pool), error=str(exc), values={})
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

    # ---- record refusals ----

    async def refusals_page(self, request: Request) -> Response:
        """The record writes PostgreSQL refused for good (`ComplaintRecords.refused`), newest first, for an admin
        to look into: event kinds and error names only, since the refused data may be what a customer wrote."""
        ctx = await self.pages.admin(request, labels.N_("Only an administrator may see the refused record writes."))
        return self.pages.render(ctx, "refusals.html", refusals=await self.queries.record_refusals(REFUSALS_SHOWN))

    # ---- caught mail (complaints dev) ----

    def _caught_mail(self) -> CaughtMail:
        return CaughtMail.of_data_dir(self.pages.settings.data_dir)

    async def caught_mail_page(self, request: Request) -> Response:
        """What customers and staff would have received, for a newcomer to read: admins only, since the messages
        greet customers by name. Empty outside `complaints dev`, where real mail servers carry the mail."""
        ctx = await self.pages.admin(request, labels.N_("Only an administrator may read the caught mail."))
        messages = await asyncio.to_thread(self._caught_mail().latest, CAUGHT_MAIL_SHOWN)
        return self.pages.render(ctx, "caught_mail.html", messages=messages)

    async def caught_message_page(self, request: Request) -> Response:
        """One caught message: its headers and its plain text, escaped like every text on the pages."""
        ctx = await self.pages.admin(request, labels.N_("Only an administrator may read the caught mail."))
        message = await asyncio.to_thread(self._caught_mail().read, request.path_params["name"])
        if message is None:
            raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        return self.pages.render(ctx, "caught_message.html", message=message)
