"""The managers' reports (`/reports/...`): one page per report with its period and filters in the link, each table
also as CSV (`/reports/{report}.csv?table=...`), and a printable month of all of them (`/reports/monthly`).

Managers and administrators only: an agent answers complaints, a manager answers for the deadlines.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from activities.reports import ComplaintReports
from domain.calendar import BUSINESS_TZ
from domain.company import CompanyProfile
from web import labels
from web.pages import Context, Pages
from web.reports import (
    REPORTS,
    Formats,
    ReportQuery,
    ReportView,
    lessons_tables,
    months_back,
    period_shortcuts,
    sla_tables,
    stage_tables,
    volume_tables,
    wip_tables,
)
from web.users import UserRole

READERS = frozenset({UserRole.MANAGER, UserRole.ADMIN})
LIST_ROWS_SHOWN = 200
"""Rows of the long lists (work in progress, lessons) a page shows; a CSV has them all."""


class ReportPages:
    """`/reports`, `/reports/{report}`, `/reports/{report}.csv` and `/reports/monthly`."""

    def __init__(self, pages: Pages, reports: ComplaintReports, company: CompanyProfile) -> None:
        self.pages = pages
        self.reports = reports
        self.company = company

    def routes(self) -> list[Route]:
        return [
            Route("/reports", self.index, methods=["GET"]),
            Route("/reports/monthly", self.monthly, methods=["GET"]),
            Route("/reports/{report}.csv", self.csv, methods=["GET"]),
            Route("/reports/{report}", self.report, methods=["GET"]),
        ]

    async def reader(self, request: Request) -> Context:
        ctx = await self.pages.signed_in(request)
        assert ctx.user is not None
        if ctx.user.role not in READERS:
            raise HTTPException(403, ctx.tr.gettext(labels.N_("Only managers and administrators see the reports.")))
        return ctx

    @staticmethod
    def today() -> date:
        return datetime.now(UTC).astimezone(BUSINESS_TZ).date()

    async def view(
        self, ctx: Context, name: str, query: ReportQuery, limit: int | None = LIST_ROWS_SHOWN
    ) -> ReportView:
        """The report's figures, as tables and charts in the reader's language; a CSV asks for no `limit`."""
        where = query.where
        f = Formats(ctx.tr, self.company)
        if name == "sla":
            charts, tables = sla_tables(await self.reports.sla(where), f)
        elif name == "stages":
            charts, tables = stage_tables(await self.reports.stage_time(where), f)
        elif name == "wip":
            charts, tables = wip_tables(await self.reports.work_in_progress(where, limit=limit), f)
        elif name == "volume":
            charts, tables = volume_tables(await self.reports.volume(where), f, where)
        elif name == "lessons":
            charts, tables = lessons_tables(await self.reports.lessons(where, query.q, limit=limit), f)
        else:
            raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        return ReportView(name, ctx.tr.gettext(REPORTS[name]), charts, tables)

    async def index(self, request: Request) -> Response:
        await self.reader(request)
        query = request.url.query
        return RedirectResponse("/reports/sla" + (f"?{query}" if query else ""), 303)

    async def report(self, request: Request) -> Response:
        ctx = await self.reader(request)
        name = request.path_params["report"]
        if name not in REPORTS:
            raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        today = self.today()
        query = ReportQuery.from_query(request.query_params, today)
        view = await self.view(ctx, name, query)
        return self.pages.render(
            ctx,
            "reports.html",
            view=view,
            query=query,
            reports=REPORTS,
            shortcuts=period_shortcuts(today, ctx.tr),
            month=months_back(today, 1).strftime("%Y-%m"),
        )

    async def csv(self, request: Request) -> Response:
        ctx = await self.reader(request)
        name = request.path_params["report"]
        if name not in REPORTS:
            raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        query = ReportQuery.from_query(request.query_params, self.today())
        view = await self.view(ctx, name, query, limit=None)
        table = view.table(request.query_params.get("table", view.tables[0].name))
        if table is None:
            raise HTTPException(404, ctx.tr.gettext("This page does not exist."))
        where = query.where
        filename = f"{name}-{table.name}-{where.start.isoformat()}-{where.end.isoformat()}.csv"
        return Response(
            table.csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def monthly(self, request: Request) -> Response:
        """One month of every report on one page, laid out for paper (the print stylesheet drops the controls)."""
        ctx = await self.reader(request)
        today = self.today()
        params = dict(request.query_params)
        params.setdefault("month", months_back(today, 1).strftime("%Y-%m"))
        params.pop("from", None)
        params.pop("to", None)
        query = ReportQuery.from_query(params, today)
        views = [await self.view(ctx, name, query) for name in REPORTS if name != "wip"]
        return self.pages.render(
            ctx,
            "reports_monthly.html",
            views=views,
            query=query,
            month=params["month"],
            reports=REPORTS,
        )
