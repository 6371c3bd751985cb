"""The managers' reports, web side: which period and filters a link may ask for, and the tables and charts a page
(and its CSV) shows. The figures are `activities.reports`; the routes are `web.routes.reports`.

Each table is built once, as cells holding both the text a page shows in the reader's language and the plain value
the CSV carries, so a page and its CSV never disagree. Charts are data for the SVG macros in
`templates/reports_charts.html`: no script runs on these pages (the CSP forbids it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from activities.reports import (
    AGE_BUCKETS,
    DUE_SOON_WORKING_DAYS,
    WAITING_STAGES,
    LessonsReport,
    OpenComplaint,
    ReportFilter,
    SlaReport,
    SlaRow,
    StageReport,
    VolumeReport,
    WorkInProgress,
)
from domain.calendar import BUSINESS_TZ
from domain.company import CompanyProfile
from domain.fields import DEPARTMENT_CODE_PATTERN
from domain.intake import Channel
from web import labels
from web.i18n import Translator
from web.labels import N_
from web.query import QueryRefused, check_query, one_of, search_text

REPORTS: dict[str, str] = {
    "sla": N_("SLA compliance"),
    "stages": N_("Where the time goes"),
    "wip": N_("Work in progress"),
    "volume": N_("Volume"),
    "lessons": N_("Lessons learned"),
}
"""The reports, in the order of the tabs; `monthly` is the printable month of all of them."""
MAX_PERIOD_DAYS = 3 * 366
"""The longest period a link may ask for: three years of figures is already more than a page can show."""
DEFAULT_MONTHS = 6
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MONTH_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}")
CHANNEL_CHOICES = frozenset(channel.value for channel in Channel)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is a formula to Excel: such cells are quoted with a leading apostrophe."""


def months_back(day: date, months: int) -> date:
    """The first day of the month `months` before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class ReportQuery:
    """What a report's link asks for: the period and filters, the lessons' search, the month to print."""

    where: ReportFilter
    q: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str], today: date) -> ReportQuery:
        """The link's period (`from`, `to`: local dates, both included; the last six months by default, or the
        month of `month=YYYY-MM`), department and channel; `QueryRefused` naming a parameter it cannot take."""
        check_query(params)
        channel = one_of(params, "channel", CHANNEL_CHOICES, "")
        department = params.get("department", "").strip().lower()
        if department and not DEPARTMENT_CODE_PATTERN.fullmatch(department):
            raise QueryRefused("department", "is not a department's name")
        month = params.get("month", "")
        if month:
            if not MONTH_PATTERN.fullmatch(month) or not 1 <= int(month[5:]) <= 12 or int(month[:4]) < 2000:
                raise QueryRefused("month", "must be a month as YYYY-MM")
            where = ReportFilter.month(int(month[:4]), int(month[5:]), department, channel)
        else:
            start = _date(params, "from") or months_back(today, DEFAULT_MONTHS - 1)
            end = _date(params, "to") or today
            if end < start:
                raise QueryRefused("to", "must not be before from")
            if (end - start).days >= MAX_PERIOD_DAYS:
                raise QueryRefused("to", f"the period must be at most {MAX_PERIOD_DAYS} days")
            where = ReportFilter(start, end, department, channel)
        q = search_text(params)
        return cls(where, q)

    def params(self, **changes: str) -> dict[str, str]:
        values = {
            "from": self.where.start.isoformat(),
            "to": self.where.end.isoformat(),
            "department": self.where.department,
            "channel": self.where.channel,
            "q": self.q,
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value}

    def url(self, path: str, **changes: str) -> str:
        return f"{path}?{urlencode(self.params(**changes))}"


def _date(params: Mapping[str, str], name: str) -> date | None:
    value = params.get(name, "")
    if value == "":
        return None
    try:
        if not DATE_PATTERN.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise QueryRefused(name, "must be a date as YYYY-MM-DD") from None
    if day.year < 2000 or day.year > 2098:
        raise QueryRefused(name, "must be a date from 2000 to 2098")
    return day


def period_shortcuts(today: date, tr: Translator) -> list[tuple[str, date, date]]:
    """Periods a manager picks most, as links: this month, last month, the last three and six months, this year."""
    this_month = today.replace(day=1)
    last_month = months_back(today, 1)
    return [
        (tr.gettext("This month"), this_month, today),
        (tr.gettext("Last month"), last_month, this_month - timedelta(days=1)),
        (tr.gettext("Last 3 months"), months_back(today, 2), today),
        (tr.gettext("Last 6 months"), months_back(today, 5), today),
        (tr.gettext("This year"), date(today.year, 1, 1), today),
    ]


# ---- cells, tables, charts ----


@dataclass(frozen=True)
class Cell:
    text: str
    """As the page shows it, in the reader's language."""
    value: object
    """As the CSV carries it: a number with a point, an ISO date, or the text."""
    href: str | None = None
    numeric: bool = False


@dataclass(frozen=True)
class ReportTable:
    name: str
    """Its CSV's `table=`."""
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    total: list[Cell] | None = None
    note: str = ""
    empty: str = ""
    """What an empty table says (default: nothing in this period)."""

    def csv(self) -> bytes:
        """UTF-8 with the byte-order mark Excel needs to read Vietnamese, one header line, every row."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in [*self.rows, *([self.total] if self.total else [])]:
            writer.writerow([_csv_value(cell.value) for cell in row])
        return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class Chart:
    """Horizontal bars, one group per row, one bar per series; `percent` scales to 100 %, else to the largest."""

    title: str
    series: list[str]
    rows: list[tuple[str, list[float | None], list[str]]]
    """(label, a value per series, the value's text per series)."""
    percent: bool = False

    @property
    def scale(self) -> float:
        if self.percent:
            return 1.0
        values = [v for _, values, _ in self.rows for v in values if v is not None]
        return max(values, default=0.0) or 1.0


@dataclass
class Formats:
    """Numbers, shares and dates as the reader's language writes them (a decimal comma in Vietnamese)."""

    tr: Translator
    company: CompanyProfile

    @property
    def vi(self) -> bool:
        return self.tr.language == "vi"

    def count(self, value: int) -> Cell:
        text = f"{value:,}"
        return Cell(text.replace(",", ".") if self.vi else text, value, numeric=True)

    def number(self, value: float | None, digits: int = 1) -> Cell:
        if value is None:
            return Cell("—", None, numeric=True)
        text = f"{value:,.{digits}f}"
        if self.vi:
            text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
        return Cell(text, round(value, digits + 1), numeric=True)

    def share(self, value: float | None) -> Cell:
        if value is None:
            return Cell("—", None, numeric=True)
        cell = self.number(100 * value)
        return Cell(cell.text + " %", round(100 * value, 1), numeric=True)

    def ratio(self, part: int, whole: int) -> Cell:
        return Cell(f"{self.count(part).text} / {self.count(whole).text}", f"{part}/{whole}", numeric=True)

    def text(self, value: str | None, href: str | None = None) -> Cell:
        return Cell(value or "—", value or "", href)

    def date(self, value: date) -> Cell:
        return Cell(value.strftime("%d/%m/%Y"), value.isoformat())

    def instant(self, value: datetime) -> Cell:
        local = value.astimezone(BUSINESS_TZ)
        return Cell(local.strftime("%d/%m/%Y %H:%M"), local.strftime("%Y-%m-%d %H:%M"))

    def yes_no(self, value: bool | None) -> Cell:
        if value is None:
            text = self.tr.gettext("unknown")
        else:
            text = self.tr.gettext("yes") if value else self.tr.gettext("no")
        return Cell(text, text)

    def label(self, table: dict[str, str], value: str) -> Cell:
        return Cell(self.tr.gettext(table[value]) if value in table else value, value)

    def department(self, code: str) -> Cell:
        return Cell(self.company.department_name(code, "vi" if self.vi else "en"), code)

    def month(self, key: str) -> Cell:
        return Cell(f"{key[5:]}/{key[:4]}", key)

    def case(self, row: OpenComplaint | Any) -> Cell:
        return Cell(row.case_number, row.case_number, href=f"/complaints/{row.complaint_id}")


# ---- the reports as tables and charts ----


def _headers(tr: Translator, *messages: str) -> list[str]:
    return [tr.gettext(message) for message in messages]


SLA_COLUMNS = (
    N_("Complaints"),
    N_("First response in 24 h"),
    N_("Share"),
    N_("First responses late (breached)"),
    N_("Median hours to first response"),
    N_("90th percentile, hours"),
    N_("Resolved in 20 working days"),
    N_("Share"),
    N_("Resolutions breached"),
    N_("Median working days to resolution"),
    N_("90th percentile, working days"),
)


def _sla_cells(f: Formats, row: SlaRow) -> list[Cell]:
    return [
        f.count(row.complaints),
        f.ratio(row.first_response_met, row.first_response_decided),
        f.share(row.first_response_share),
        f.count(row.first_response_breaches),
        f.number(row.first_response_hours_median),
        f.number(row.first_response_hours_p90),
        f.ratio(row.resolution_met, row.resolution_decided),
        f.share(row.resolution_share),
        f.count(row.resolution_breaches),
        f.number(row.resolution_days_median),
        f.number(row.resolution_days_p90),
    ]


def sla_tables(report: SlaReport, f: Formats) -> tuple[list[Chart], list[ReportTable]]:
    tr = f.tr
    total = [f.text(tr.gettext("All")), *_sla_cells(f, report.total)]
    groups: list[tuple[str, str, str, list[SlaRow], Callable[[str], Cell]]] = [
        ("month", N_("By month of receipt"), N_("Month"), report.by_month, f.month),
        ("department", N_("By department"), N_("Department"), report.by_department, f.department),
        ("channel", N_("By channel"), N_("Channel"), report.by_channel, lambda v: f.label(labels.CHANNELS, v)),
    ]
    tables = [
        ReportTable(
            name,
            tr.gettext(title),
            _headers(tr, first, *SLA_COLUMNS),
            [[key_cell(row.key), *_sla_cells(f, row)] for row in rows],
            total,
            tr.gettext(
                "Shares are of the complaints whose clock is decided: answered, marked breached, or past due. "
                "Merged and withdrawn complaints are left out."
            ),
        )
        for name, title, first, rows, key_cell in groups
    ]
    series = [tr.gettext("First response in 24 h"), tr.gettext("Resolved in 20 working days")]

    def chart(title: str, rows: list[SlaRow], key_cell: Callable[[str], Cell]) -> Chart:
        return Chart(
            tr.gettext(title),
            series,
            [
                (
                    key_cell(row.key).text,
                    [row.first_response_share, row.resolution_share],
                    [f.share(row.first_response_share).text, f.share(row.resolution_share).text],
                )
                for row in rows
            ],
            percent=True,
        )

    charts = [
        chart(N_("Deadlines met, by month"), report.by_month, f.month),
        chart(N_("Deadlines met, by department"), report.by_department, f.department),
    ]
    return charts, tables


def stage_tables(report: StageReport, f: Formats) -> tuple[list[Chart], list[ReportTable]]:
    tr = f.tr
    rows = [
        [
            f.label(labels.STAGES, stage.stage),
            f.count(stage.complaints),
            f.count(stage.visits),
            f.number(stage.hours),
            f.number(stage.mean_hours),
            f.share(report.share(stage)),
        ]
        for stage in report.stages
    ]
    table = ReportTable(
        "stages",
        tr.gettext("Time spent in each stage"),
        _headers(
            tr, N_("Stage"), N_("Complaints"), N_("Times entered"), N_("Hours in all"), N_("Mean hours"), N_("Share")
        ),
        rows,
        [
            f.text(tr.gettext("All")),
            f.text(""),
            f.count(sum(stage.visits for stage in report.stages)),
            f.number(report.total_hours),
            f.text(""),
            f.share(1.0 if report.stages and report.total_hours else None),
        ],
        tr.gettext(
            "From the timeline of the complaints received in the period (their current cycle): from the event that "
            "entered a stage to the next change of stage, or to now while the complaint is still there."
        ),
    )
    chart = Chart(
        tr.gettext("Mean hours in each stage"),
        [tr.gettext("Mean hours")],
        [
            (f.label(labels.STAGES, stage.stage).text, [stage.mean_hours], [f.number(stage.mean_hours).text])
            for stage in report.stages
        ],
    )
    return [chart], [table]


def age_label(tr: Translator, index: int) -> str:
    low, high = AGE_BUCKETS[index]
    if high is None:
        return tr.gettext("over %(days)s working days", days=low - 1)
    return tr.gettext("%(low)s–%(high)s working days", low=low, high=high)


def _open_rows(f: Formats, rows: list[OpenComplaint], overdue: bool) -> list[list[Cell]]:
    return [
        [
            f.case(row),
            f.text(row.subject),
            f.label(labels.STAGES, row.stage),
            f.department(row.department),
            f.count(row.age_working_days),
            f.date(row.resolution_due_date),
            *(
                (_late(f, row), f.count(row.working_days_overdue), f.yes_no(row.breach_recorded))
                if overdue
                else (f.count(row.working_days_left),)
            ),
        ]
        for row in rows
    ]


def _late(f: Formats, row: OpenComplaint) -> Cell:
    """Which promise is late: the first response, the resolution, or both."""
    late = [
        message
        for message, is_late in (
            (N_("first response"), row.first_response_late),
            (N_("resolution"), row.resolution_late),
        )
        if is_late
    ]
    text = ", ".join(f.tr.gettext(message) for message in late)
    return Cell(text, ", ".join(late))


def wip_tables(report: WorkInProgress, f: Formats) -> tuple[list[Chart], list[ReportTable]]:
    tr = f.tr
    stages = [stage.value for stage in WAITING_STAGES]
    buckets = range(len(AGE_BUCKETS))
    matrix = ReportTable(
        "ages",
        tr.gettext("Open complaints by stage and age"),
        [tr.gettext("Stage"), *(age_label(tr, b) for b in buckets), tr.gettext("All")],
        [
            [
                f.label(labels.STAGES, stage),
                *(f.count(report.by_stage_and_age.get((stage, b), 0)) for b in buckets),
                f.count(report.stage_total(stage)),
            ]
            for stage in stages
            if report.stage_total(stage)
        ],
        [f.text(tr.gettext("All")), *(f.count(report.age_total(b)) for b in buckets), f.count(report.open_total)],
        tr.gettext("Age: working days since receipt (or since the reopen), the day of receipt not counted."),
    )
    columns = [N_("Case number"), N_("Subject"), N_("Stage"), N_("Department"), N_("Age, working days")]
    due_soon = ReportTable(
        "due_soon",
        tr.gettext("Due in the next %(days)s working days", days=DUE_SOON_WORKING_DAYS),
        _headers(tr, *columns, N_("Due date"), N_("Working days left")),
        _open_rows(f, report.due_soon, overdue=False),
        note=_shown(tr, len(report.due_soon), report.due_soon_total),
        empty=tr.gettext("None now."),
    )
    overdue = ReportTable(
        "overdue",
        tr.gettext("Overdue"),
        _headers(
            tr, *columns, N_("Due date"), N_("Deadline missed"), N_("Working days past due"), N_("Breach recorded")
        ),
        _open_rows(f, report.overdue, overdue=True),
        note=" ".join(
            note
            for note in (
                tr.gettext(
                    "Working days past due: after the resolution due date up to today (0: only the first response is "
                    "late, or the due date is today). A breach is recorded when the deadline's timer fires."
                ),
                _shown(tr, len(report.overdue), report.overdue_total),
            )
            if note
        ),
        empty=tr.gettext("None now."),
    )
    chart = Chart(
        tr.gettext("Open complaints by age"),
        [tr.gettext("Open complaints")],
        [(age_label(tr, b), [float(report.age_total(b))], [f.count(report.age_total(b)).text]) for b in buckets],
    )
    return [chart], [matrix, due_soon, overdue]


def _shown(tr: Translator, shown: int, total: int) -> str:
    if shown < total:
        return tr.gettext("The first %(shown)s of %(total)s; the CSV has them all.", shown=shown, total=total)
    return ""


def volume_tables(report: VolumeReport, f: Formats, where: ReportFilter) -> tuple[list[Chart], list[ReportTable]]:
    tr = f.tr
    weeks = report.every_week(where)
    counts = ("received", "reopened", "merged", "withdrawn", "answered")
    count_headers = (N_("Received"), N_("Reopened"), N_("Merged"), N_("Withdrawn"), N_("Answered"))
    week_header = tr.gettext("Week of")
    summary = ReportTable(
        "weeks",
        tr.gettext("Per week"),
        [week_header, *_headers(tr, *count_headers)],
        [[f.date(week.week), *(f.count(getattr(week, name)) for name in counts)] for week in weeks],
        [f.text(tr.gettext("All")), *(f.count(report.total(name)) for name in counts)],
        tr.gettext(
            "Reopen rate: %(rate)s (reopens per answer sent in the period).", rate=f.share(report.reopen_rate).text
        ),
    )
    by_channel = ReportTable(
        "channels",
        tr.gettext("Received per week, by channel"),
        [week_header, *(f.label(labels.CHANNELS, c).text for c in report.channels)],
        [[f.date(w.week), *(f.count(w.received_by_channel.get(c, 0)) for c in report.channels)] for w in weeks],
        [
            f.text(tr.gettext("All")),
            *(f.count(sum(w.received_by_channel.get(c, 0) for w in weeks)) for c in report.channels),
        ],
    )
    by_department = ReportTable(
        "departments",
        tr.gettext("Received per week, by department"),
        [week_header, *(f.department(d).text for d in report.departments)],
        [[f.date(w.week), *(f.count(w.received_by_department.get(d, 0)) for d in report.departments)] for w in weeks],
        [
            f.text(tr.gettext("All")),
            *(f.count(sum(w.received_by_department.get(d, 0) for w in weeks)) for d in report.departments),
        ],
    )
    chart = Chart(
        tr.gettext("Complaints received per week"),
        [tr.gettext("Received"), tr.gettext("Reopened")],
        [
            (
                f.date(w.week).text,
                [float(w.received), float(w.reopened)],
                [f.count(w.received).text, f.count(w.reopened).text],
            )
            for w in weeks
        ],
    )
    return [chart], [summary, by_channel, by_department]


def lessons_tables(report: LessonsReport, f: Formats) -> tuple[list[Chart], list[ReportTable]]:
    tr = f.tr
    groups = ReportTable(
        "groups",
        tr.gettext("Closes by department and fault"),
        _headers(tr, N_("Department"), N_("Company at fault"), N_("Closes")),
        [[f.department(g.department), f.yes_no(g.company_at_fault), f.count(g.closes)] for g in report.groups],
        [f.text(tr.gettext("All")), f.text(""), f.count(sum(g.closes for g in report.groups))],
    )
    recurring = ReportTable(
        "causes",
        tr.gettext("Causes recorded more than once"),
        _headers(tr, N_("Cause"), N_("Closes"), N_("Departments")),
        [
            [
                f.text(cause.cause),
                f.count(cause.closes),
                f.text(", ".join(f.department(d).text for d in cause.departments)),
            ]
            for cause in report.recurring_causes
        ],
    )
    lessons = ReportTable(
        "lessons",
        tr.gettext("Lessons learned"),
        _headers(
            tr,
            N_("Closed at"),
            N_("Case number"),
            N_("Department"),
            N_("Cause"),
            N_("Company at fault"),
            N_("Lessons learned"),
            N_("Summary"),
        ),
        [
            [
                f.instant(lesson.closed_at),
                f.case(lesson),
                f.department(lesson.department),
                f.text(lesson.cause),
                f.yes_no(lesson.company_at_fault),
                f.text(lesson.lessons_learned),
                f.text(lesson.summary),
            ]
            for lesson in report.lessons
        ],
        note=_shown(tr, len(report.lessons), report.total),
    )
    fault = {
        True: tr.gettext("Company at fault"),
        False: tr.gettext("Not at fault"),
        None: tr.gettext("No cause recorded"),
    }
    departments = sorted({g.department for g in report.groups})
    chart = Chart(
        tr.gettext("Closes by department and fault"),
        list(fault.values()),
        [
            (
                f.department(d).text,
                [
                    float(sum(g.closes for g in report.groups if g.department == d and g.company_at_fault is k))
                    for k in fault
                ],
                [
                    f.count(sum(g.closes for g in report.groups if g.department == d and g.company_at_fault is k)).text
                    for k in fault
                ],
            )
            for d in departments
        ],
    )
    return [chart], [groups, recurring, lessons]


@dataclass
class ReportView:
    """One report as a page shows it: its charts and tables."""

    name: str
    title: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)

    def table(self, name: str) -> ReportTable | None:
        return next((table for table in self.tables if table.name == name), None)
