"""The managers' reports (issue 15): read-only SQL over the record, one query per table a page shows.

What is counted, decided once here so every page, CSV and test agrees:

* **The unit is a complaint's current cycle**, as the snapshot (`complaints`) holds it: its receipt (`received_at`:
  the receipt, the earliest one after a merge, or the reopen that started the cycle), its promised deadlines and
  its own working days (`cycle_working_days`, the calendar its deadlines were computed with, so a later calendar
  change moves neither a promise nor how long a complaint took). A period selects the cycles *received* in it
  (local dates, Asia/Ho_Chi_Minh, both ends included). Earlier cycles of a reopened complaint are counted in
  "volume" (its reopens), not again in the SLA figures.
* **SLA**: merged duplicates and withdrawn complaints are left out (their clocks ended without an answer). A first
  response is *met* when the first message to the customer went at or before its due instant (24 clock hours);
  its share is of the complaints whose first response is *decided* (answered, marked breached, or past due by
  `now`). Resolution likewise: answered (`send_resolution` or `resolve_on_first_contact`) at or before the
  resolution due instant (end of the 20th working day), of those answered, breached or past due. Breaches are the
  flags the workflow's timers set. Time to first response is in clock hours; time to resolution in working days
  after the local date of receipt up to and including the local date of the answer, counted in the complaint's own
  working days (0: answered the day it came). Medians and 90th percentiles interpolate (`percentile_cont`).
* **Where the time goes**: each transition's state says which stage the complaint is in after it (decided by
  `domain.lifecycle`, nowhere else); a stage's time runs from the transition that entered it to the next one that
  changed the stage (or the cycle), or to `now` while the complaint is still there; a stage is *entered* when a
  transition changes it (asking the customer again while waiting on them is not a second visit). Counted for the
  current cycle of the cycles received in the period; closed, merged and withdrawn are ends, not waits, and have
  no time. The record write keeps these sums per complaint with each new event (`complaint_stage_clock`), so the
  report reads one narrow row per complaint instead of the whole timeline.
* **Work in progress** is now, whatever the period: open complaints (not closed, merged or withdrawn), their age in
  working days since receipt, those due in the next three working days (not yet overdue), and the overdue ones
  (the inbox's "overdue": marked breached, or past a due instant before its timer said so).
* **Volume** counts timeline events in the period, by the local week (Monday) they happened in: receipts, reopens,
  merges (duplicates merged away), withdrawals and answers; the reopen rate is reopens per answer sent. The query
  answers the weeks with events; `VolumeReport.every_week` adds the period's other weeks as zeros for the pages.
* **Lessons learned** are those written at each close in the period, with the cause last recorded before it (the
  register `complaint_closes`, written with each close).

Department and channel filters and groups are the complaint's current ones (after any transfer), except for lessons
learned: a close is filed under the department that closed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeAlias

import asyncpg
import asyncpg.pool

from domain.calendar import BUSINESS_TZ
from domain.lifecycle import OPEN_STAGES
from domain.models import Stage

assert str(BUSINESS_TZ) == "Asia/Ho_Chi_Minh", "migrations 0009-0010 and the week arithmetic below assume this zone"

AGE_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 5), (6, 10), (11, 15), (16, 20), (21, None))
"""Ages of open complaints in working days since receipt; the last is past the 20 the policy allows."""
DUE_SOON_WORKING_DAYS = 3
LESSONS_SHOWN = 200
"""Lessons listed on the page (the CSV has them all); the groups above count every one."""
WIP_ROWS_SHOWN = 200
RECURRING_CAUSES_SHOWN = 20
REPORT_WORK_MEM = "32MB"

Connection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

_OPEN = "(" + ", ".join(f"'{stage.value}'" for stage in sorted(OPEN_STAGES)) + ")"
"""A literal list (stage names are our own constants), so the planner matches the partial index on open stages."""
WAITING_STAGES = [stage for stage in Stage if stage in OPEN_STAGES]
"""Stages in which time is spent, in the order of the process."""


@dataclass(frozen=True)
class ReportFilter:
    """A period of local dates (both included) and optional department and channel; what the URL's query holds."""

    start: date
    end: date
    department: str = ""
    channel: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=BUSINESS_TZ).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """Exclusive: the start of the day after the last."""
        return datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ).astimezone(UTC)

    @staticmethod
    def month(year: int, month: int, department: str = "", channel: str = "") -> ReportFilter:
        first = date(year, month, 1)
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return ReportFilter(first, last, department, channel)


class _Sql:
    """Arguments numbered as they are added, and the filters' conditions on a complaints alias."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def filters(self, where: ReportFilter, alias: str = "c") -> str:
        conditions = ""
        if where.department:
            conditions += f" AND {alias}.department = {self.arg(where.department)}"
        if where.channel:
            conditions += f" AND {alias}.channel = {self.arg(where.channel)}"
        return conditions


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


# ---- SLA compliance ----


@dataclass(frozen=True)
class SlaRow:
    """The SLA figures of one group (a month `YYYY-MM`, a department, a channel, or the whole period)."""

    key: str
    complaints: int
    first_response_decided: int
    first_response_met: int
    first_response_breaches: int
    resolution_decided: int
    resolution_met: int
    resolution_breaches: int
    first_response_hours_median: float | None
    first_response_hours_p90: float | None
    resolution_days_median: float | None
    resolution_days_p90: float | None

    @property
    def first_response_share(self) -> float | None:
        return _share(self.first_response_met, self.first_response_decided)

    @property
    def resolution_share(self) -> float | None:
        return _share(self.resolution_met, self.resolution_decided)


@dataclass(frozen=True)
class SlaReport:
    by_month: list[SlaRow]
    by_department: list[SlaRow]
    by_channel: list[SlaRow]
    total: SlaRow


_SLA = """
WITH cohort AS (
    SELECT (date_part('year', c.receipt_date) * 100 + date_part('month', c.receipt_date))::int AS month,
        c.department, c.channel,
        c.first_responded_at IS NOT NULL OR c.first_response_breached OR c.first_response_due <= {now}
            AS first_response_decided,
        c.first_responded_at <= c.first_response_due AS first_response_met,
        c.first_response_breached,
        c.cycle_resolved_at IS NOT NULL OR c.resolution_breached OR c.resolution_due <= {now} AS resolution_decided,
        c.cycle_resolved_at <= c.resolution_due AS resolution_met,
        c.resolution_breached,
        c.first_response_hours AS response_hours, c.resolution_working_days AS resolution_days
    FROM complaints c
    WHERE c.received_at >= {since} AND c.received_at < {until} AND c.stage NOT IN ('merged', 'withdrawn'){filters}
)
SELECT {grouping} AS grouping, {keys},
    count(*) AS complaints,
    count(*) FILTER (WHERE first_response_decided) AS first_response_decided,
    count(*) FILTER (WHERE first_response_met) AS first_response_met,
    count(*) FILTER (WHERE first_response_breached) AS first_response_breaches,
    count(*) FILTER (WHERE resolution_decided) AS resolution_decided,
    count(*) FILTER (WHERE resolution_met) AS resolution_met,
    count(*) FILTER (WHERE resolution_breached) AS resolution_breaches,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY response_hours) AS first_response_hours,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY resolution_days) AS resolution_days
FROM cohort
GROUP BY GROUPING SETS ({sets})
"""
"""The cohort narrowed to what the figures need (the groups' sorts carry little), each figure's condition decided
once per complaint; the median and the 90th percentile of a measure from one ordered aggregate."""
_SLA_HALVES = (
    ("GROUPING(month) * 4 + 3", "month, NULL::text AS department, NULL::text AS channel", "(month), ()"),
    ("4 + GROUPING(department, channel)", "NULL::int AS month, department, channel", "(department), (channel)"),
)
"""The SLA's groups in two queries read side by side (`ComplaintReports._fetch_side_by_side`): the sorts of a year
of complaints for four groupings' percentiles are most of its time, and two halves use two cores. `grouping` keeps
the bits `GROUPING(month, department, channel)` would give in one query."""

_SLA_COUNTS = (
    "complaints",
    "first_response_decided",
    "first_response_met",
    "first_response_breaches",
    "resolution_decided",
    "resolution_met",
    "resolution_breaches",
)

# GROUPING(month, department, channel): a bit set for each column *not* grouped by (month is the highest bit).
_BY_MONTH, _BY_DEPARTMENT, _BY_CHANNEL, _TOTAL = 0b011, 0b101, 0b110, 0b111


# ---- where the time goes ----


@dataclass(frozen=True)
class StageTime:
    """Time spent in one stage by the cycles received in the period."""

    stage: str
    complaints: int
    visits: int
    hours: float

    @property
    def mean_hours(self) -> float:
        return self.hours / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class StageReport:
    stages: list[StageTime]

    @property
    def total_hours(self) -> float:
        return sum(stage.hours for stage in self.stages)

    def share(self, stage: StageTime) -> float | None:
        return _share_float(stage.hours, self.total_hours)


def _share_float(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


def _stage_time_sql(now: str, since: str, until: str, filters: str) -> str:
    """One row of sums over the stage clocks (`complaint_stage_clock`, kept by the record write) of the cycles
    received in the period: per waiting stage, the complaints that entered it, the times entered and
    the seconds spent, the stage a complaint is in now counting up to `now`."""
    sums = []
    for index, stage in enumerate(WAITING_STAGES, start=1):
        running = f"CASE WHEN k.stage = '{stage.value}' THEN greatest(0, date_part('epoch', {now} - k.entered_at)) END"
        sums.append(
            f"count(*) FILTER (WHERE k.visits[{index}] > 0) AS complaints_{index},"
            f" sum(k.visits[{index}]) AS visits_{index},"
            f" sum(k.seconds[{index}] + coalesce({running}, 0)) / 3600.0 AS hours_{index}"
        )
    return (
        f"SELECT {', '.join(sums)} FROM complaint_stage_clock k"
        f" WHERE k.received_at >= {since} AND k.received_at < {until}{filters}"
    )


# ---- work in progress ----


@dataclass(frozen=True)
class OpenComplaint:
    """One open complaint as the work-in-progress lists show it, with what a manager needs to pick it up."""

    complaint_id: str
    case_number: str
    subject: str
    stage: str
    department: str
    channel: str
    received_at: datetime
    resolution_due: datetime
    resolution_due_date: date
    age_working_days: int
    working_days_left: int
    first_response_breached: bool
    resolution_breached: bool
    first_response_late: bool
    """No first response by its due instant (whether or not its timer has marked the breach yet)."""
    resolution_late: bool
    """Not answered by the resolution due instant (whether or not its timer has marked the breach yet)."""
    working_days_overdue: int
    """Working days after the resolution due date up to today (0 until the day after it)."""

    @property
    def breach_recorded(self) -> bool:
        """The workflow's timers have marked a breach (and escalated it)."""
        return self.first_response_breached or self.resolution_breached


@dataclass(frozen=True)
class WorkInProgress:
    """Open complaints now: counts by stage and age, those due soon and the overdue ones (most urgent first)."""

    today: date
    by_stage_and_age: dict[tuple[str, int], int]
    """(stage, index into `AGE_BUCKETS`) -> open complaints."""
    due_soon: list[OpenComplaint]
    due_soon_total: int
    overdue: list[OpenComplaint]
    overdue_total: int

    @property
    def open_total(self) -> int:
        return sum(self.by_stage_and_age.values())

    def stage_total(self, stage: str) -> int:
        return sum(n for (s, _), n in self.by_stage_and_age.items() if s == stage)

    def age_total(self, bucket: int) -> int:
        return sum(n for (_, b), n in self.by_stage_and_age.items() if b == bucket)


_WIP_COLUMNS = """
SELECT c.complaint_id, c.case_number, c.subject, c.stage, c.department, c.channel, c.received_at,
    c.resolution_due, c.resolution_due_date, c.first_response_breached, c.resolution_breached,
    c.first_responded_at, c.first_response_due,
    complaint_working_days_between(c.cycle_working_days, c.receipt_date, {today})
        AS age_working_days,
    complaint_working_days_between(c.cycle_working_days, {today}, c.resolution_due_date) AS working_days_left,
    complaint_working_days_between(c.cycle_working_days, c.resolution_due_date, {today}) AS working_days_overdue
FROM complaints c WHERE c.stage IN {open}{filters}
"""
_OVERDUE = (
    "(first_response_breached OR resolution_breached OR resolution_due <= {now}"
    " OR (first_responded_at IS NULL AND first_response_due <= {now}))"
)
_WIP_BUCKETS = """
WITH open AS ({columns})
SELECT stage, CASE {buckets} END AS bucket, count(*) AS complaints FROM open GROUP BY 1, 2
"""
_WIP_LIST = """
WITH open AS ({columns})
SELECT *, count(*) OVER () AS total,
    first_response_breached OR (first_responded_at IS NULL AND first_response_due <= {now}) AS first_response_late,
    resolution_breached OR resolution_due <= {now} AS resolution_late
FROM open WHERE {condition}
ORDER BY resolution_due, case_number {limit}
"""


# ---- volume ----


@dataclass(frozen=True)
class WeekVolume:
    week: date
    """The Monday of the local week."""
    received: int
    reopened: int
    merged: int
    withdrawn: int
    answered: int
    received_by_channel: dict[str, int] = field(default_factory=dict)
    received_by_department: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeReport:
    weeks: list[WeekVolume]
    channels: list[str]
    departments: list[str]

    def total(self, name: str) -> int:
        return sum(getattr(week, name) for week in self.weeks)

    def every_week(self, where: ReportFilter) -> list[WeekVolume]:
        """Every week of the period, in order, a week without events as zeros: a quiet week is a figure too."""
        counted = {week.week: week for week in self.weeks}
        monday = where.start - timedelta(days=where.start.weekday())
        weeks = []
        while monday <= where.end:
            weeks.append(counted.get(monday) or WeekVolume(monday, 0, 0, 0, 0, 0))
            monday += timedelta(days=7)
        return weeks

    @property
    def reopen_rate(self) -> float | None:
        """Reopens per answer sent in the period: how often the customer disputed the outcome."""
        return _share(self.total("reopened"), self.total("answered"))


_VOLUME_KINDS = {
    "received": "received",
    "reopen": "reopened",
    "merge_into": "merged",
    "withdraw": "withdrawn",
    "send_resolution": "answered",
    "resolve_on_first_contact": "answered",
}
_VOLUME = """
SELECT floor((date_part('epoch', c.registered_at) + {shift}) / 604800)::int AS week, 'received' AS kind, c.channel,
    c.department, count(*) AS events
FROM complaint_stage_clock c
WHERE c.registered_at >= {since} AND c.registered_at < {until}{filters}
GROUP BY 1, 3, 4
UNION ALL
SELECT floor((date_part('epoch', e.at) + {shift}) / 604800)::int, e.kind, NULL, NULL, count(*)
FROM complaint_events e {join}
WHERE e.kind = ANY({kinds}::text[]) AND e.at >= {since} AND e.at < {until}{filters}
GROUP BY 1, 2
"""
"""Receipts (each complaint's `received` event, whose instant the stage clock keeps as `registered_at`) by channel
and department; the other events only counted, joined to their complaint's stage clock (a narrow row) only when a
filter needs its department or channel. Weeks are numbered by arithmetic on the epoch (`_week_monday`), not by a
time zone conversion per event, which costs more than the rest of the query."""
WEEK_SHIFT_SECONDS = 7 * 3600 + 3 * 86400
"""Asia/Ho_Chi_Minh is UTC+07:00 all year (no daylight saving since 1975), and 1 January 1970 was a Thursday: shifted
by seven hours and three days, the epoch's whole weeks start on local Mondays."""


def _week_monday(week: int) -> date:
    return date(1970, 1, 1) + timedelta(days=7 * week - 3)


# ---- lessons learned ----


@dataclass(frozen=True)
class Lesson:
    complaint_id: str
    case_number: str
    department: str
    closed_at: datetime
    cycle: int
    summary: str
    lessons_learned: str
    cause: str | None
    company_at_fault: bool | None


@dataclass(frozen=True)
class LessonGroup:
    department: str
    company_at_fault: bool | None
    """None: closed without a recorded cause."""
    closes: int


@dataclass(frozen=True)
class RecurringCause:
    cause: str
    """As first written (the grouping ignores case and surrounding spaces)."""
    closes: int
    departments: list[str]


@dataclass(frozen=True)
class LessonsReport:
    groups: list[LessonGroup]
    recurring_causes: list[RecurringCause]
    lessons: list[Lesson]
    total: int
    search: str


_LESSONS = """
SELECT k.complaint_id, k.case_number, k.department, k.closed_at, k.cycle, k.summary, k.lessons_learned, k.cause,
    k.company_at_fault
FROM complaint_closes k
WHERE k.closed_at >= {since} AND k.closed_at < {until}{filters}{search}
"""
"""The lessons learned register (`complaint_closes`, written with each close, with the cause on record then and the
complaint's department and channel at that close)."""


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ComplaintReports:
    """The reports' queries; each takes the filter (and `now`, so a test can pin the moment) and answers rows."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def _reading(self, snapshot: str | bool = False) -> AsyncIterator[Connection]:
        """A read-only transaction with room to sort: a year of complaints sorted for its percentiles and groups
        spills to disk under PostgreSQL's default 4 MB of `work_mem`. `snapshot`: True for one whose snapshot
        others share, or the id of the snapshot to read (`_fetch_side_by_side`)."""
        isolation: Literal["repeatable_read", "read_committed"] = "repeatable_read" if snapshot else "read_committed"
        async with self._pool.acquire() as conn, conn.transaction(isolation=isolation, readonly=True):
            if isinstance(snapshot, str):
                await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # an id PostgreSQL gave, not input
            await conn.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
            await conn.execute("SET LOCAL parallel_setup_cost = 100")
            await conn.execute("SET LOCAL parallel_tuple_cost = 0.01")
            yield conn

    async def _fetch(self, query: str, args: Sequence[Any]) -> list[asyncpg.Record]:
        async with self._reading() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows

    async def _fetch_side_by_side(self, queries: Sequence[str], args: Sequence[Any]) -> list[list[asyncpg.Record]]:
        """Queries of one report run at once on as many connections, all reading the first one's snapshot
        (`pg_export_snapshot`), so their figures agree as if read by one query; as PostgreSQL's parallel workers
        would, a report then uses more than one core. One after the other when the pool has too few connections."""
        if self._pool.get_max_size() < len(queries):
            async with self._reading() as conn:
                return [await conn.fetch(query, *args) for query in queries]
        async with self._reading(snapshot=True) as first:
            snapshot = await first.fetchval("SELECT pg_export_snapshot()")

            async def other(query: str) -> list[asyncpg.Record]:
                async with self._reading(snapshot=snapshot) as conn:
                    rows: list[asyncpg.Record] = await conn.fetch(query, *args)
                return rows

            # Every query finishes before the first transaction ends (its snapshot must outlive the others' start).
            results = await asyncio.gather(
                first.fetch(queries[0], *args), *(other(q) for q in queries[1:]), return_exceptions=True
            )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if not isinstance(result, BaseException)]

    async def sla(self, where: ReportFilter, now: datetime | None = None) -> SlaReport:
        sql = _Sql()
        values = {
            "since": sql.arg(where.since),
            "until": sql.arg(where.until),
            "now": sql.arg(now or datetime.now(UTC)),
            "filters": sql.filters(where),
        }
        queries = [
            _SLA.format(grouping=grouping, keys=keys, sets=sets, **values) for grouping, keys, sets in _SLA_HALVES
        ]
        halves = await self._fetch_side_by_side(queries, sql.args)
        rows = sorted(
            (record for half in halves for record in half),
            key=lambda r: (r["grouping"], r["month"] or 0, r["department"] or "", r["channel"] or ""),
        )

        def row(record: asyncpg.Record, key: str) -> SlaRow:
            counts = {name: record[name] for name in _SLA_COUNTS}
            hours = record["first_response_hours"] or [None, None]
            days = record["resolution_days"] or [None, None]
            return SlaRow(
                key=key,
                **counts,
                first_response_hours_median=hours[0],
                first_response_hours_p90=hours[1],
                resolution_days_median=days[0],
                resolution_days_p90=days[1],
            )

        report: dict[int, list[SlaRow]] = {_BY_MONTH: [], _BY_DEPARTMENT: [], _BY_CHANNEL: [], _TOTAL: []}
        for record in rows:
            grouping = record["grouping"]
            if grouping == _BY_MONTH:  # yyyymm, a number so no row pays for formatting a date
                key = f"{record['month'] // 100:04d}-{record['month'] % 100:02d}"
            else:
                key = {_BY_DEPARTMENT: record["department"], _BY_CHANNEL: record["channel"]}.get(grouping, "")
            report[grouping].append(row(record, key))
        total = report[_TOTAL][0] if report[_TOTAL] else _empty_sla()
        return SlaReport(report[_BY_MONTH], report[_BY_DEPARTMENT], report[_BY_CHANNEL], total)

    async def stage_time(self, where: ReportFilter, now: datetime | None = None) -> StageReport:
        sql = _Sql()
        query = _stage_time_sql(
            now=sql.arg(now or datetime.now(UTC)),
            since=sql.arg(where.since),
            until=sql.arg(where.until),
            filters=sql.filters(where, "k"),
        )
        [row] = await self._fetch(query, sql.args)
        return StageReport(
            [
                StageTime(stage.value, row[f"complaints_{i}"], row[f"visits_{i}"], float(row[f"hours_{i}"]))
                for i, stage in enumerate(WAITING_STAGES, start=1)
                if row[f"visits_{i}"]
            ]
        )

    async def work_in_progress(
        self, where: ReportFilter, now: datetime | None = None, limit: int | None = WIP_ROWS_SHOWN
    ) -> WorkInProgress:
        """Open complaints now; the period of `where` plays no part. `limit` bounds each list (None: all)."""
        now = now or datetime.now(UTC)
        today = now.astimezone(BUSINESS_TZ).date()
        sql = _Sql()
        columns = _WIP_COLUMNS.format(today=sql.arg(today), open=_OPEN, filters=sql.filters(where))
        buckets = (
            " ".join(
                f"WHEN age_working_days <= {high} THEN {index}" for index, (_, high) in enumerate(AGE_BUCKETS) if high
            )
            + f" ELSE {len(AGE_BUCKETS) - 1}"
        )
        counted = await self._fetch(_WIP_BUCKETS.format(columns=columns, buckets=buckets), sql.args)
        moment = sql.arg(now)
        overdue = _OVERDUE.format(now=moment)
        limited = "" if limit is None else f"LIMIT {int(limit)}"
        due_soon_rows = await self._fetch(
            _WIP_LIST.format(
                columns=columns,
                condition=f"NOT {overdue} AND working_days_left <= {DUE_SOON_WORKING_DAYS}",
                limit=limited,
                now=moment,
            ),
            sql.args,
        )
        overdue_rows = await self._fetch(
            _WIP_LIST.format(columns=columns, condition=overdue, limit=limited, now=moment), sql.args
        )
        return WorkInProgress(
            today=today,
            by_stage_and_age={(r["stage"], r["bucket"]): r["complaints"] for r in counted},
            due_soon=[_open_complaint(r) for r in due_soon_rows],
            due_soon_total=due_soon_rows[0]["total"] if due_soon_rows else 0,
            overdue=[_open_complaint(r) for r in overdue_rows],
            overdue_total=overdue_rows[0]["total"] if overdue_rows else 0,
        )

    async def volume(self, where: ReportFilter) -> VolumeReport:
        sql = _Sql()
        since, until = sql.arg(where.since), sql.arg(where.until)
        filters = sql.filters(where)
        query = _VOLUME.format(
            shift=WEEK_SHIFT_SECONDS,
            kinds=sql.arg(sorted(kind for kind in _VOLUME_KINDS if kind != "received")),
            since=since,
            until=until,
            filters=filters,
            join="JOIN complaint_stage_clock c USING (complaint_id)" if filters else "",
        )
        weeks: dict[date, dict[str, Any]] = {}
        channels: set[str] = set()
        departments: set[str] = set()
        for record in await self._fetch(query, sql.args):
            week = weeks.setdefault(
                _week_monday(record["week"]),
                {name: 0 for name in set(_VOLUME_KINDS.values())} | {"by_channel": {}, "by_department": {}},
            )
            name = _VOLUME_KINDS[record["kind"]]
            week[name] += record["events"]
            if name == "received":
                channel, department = record["channel"], record["department"]
                week["by_channel"][channel] = week["by_channel"].get(channel, 0) + record["events"]
                week["by_department"][department] = week["by_department"].get(department, 0) + record["events"]
                channels.add(channel)
                departments.add(department)
        return VolumeReport(
            weeks=[
                WeekVolume(
                    week=monday,
                    received=counts["received"],
                    reopened=counts["reopened"],
                    merged=counts["merged"],
                    withdrawn=counts["withdrawn"],
                    answered=counts["answered"],
                    received_by_channel=counts["by_channel"],
                    received_by_department=counts["by_department"],
                )
                for monday, counts in sorted(weeks.items())
            ],
            channels=sorted(channels),
            departments=sorted(departments),
        )

    async def lessons(self, where: ReportFilter, search: str = "", limit: int | None = LESSONS_SHOWN) -> LessonsReport:
        """Lessons written at each close in the period, newest first; `search` matches the lessons, the summary or
        the cause anywhere, case-insensitively. The groups and recurring causes count every match."""
        sql = _Sql()
        condition = ""
        if search:
            anywhere = sql.arg("%" + _escape_like(search) + "%")
            condition = f" AND k.searchable ILIKE {anywhere}"  # trigram-indexed (migration 0011)
        closes = _LESSONS.format(
            since=sql.arg(where.since), until=sql.arg(where.until), filters=sql.filters(where, "k"), search=condition
        )
        limited = "" if limit is None else f"LIMIT {int(limit)}"
        async with self._reading() as conn:
            # One hash aggregate gives both the groups and the recurring causes (a few hundred rows at most).
            counted = await conn.fetch(
                "SELECT department, company_at_fault, lower(trim(cause)) AS same_cause, min(trim(cause)) AS cause,"
                f" count(*) AS closes FROM ({closes}) m GROUP BY 1, 2, 3",
                *sql.args,
            )
            rows = await conn.fetch(f"{closes} ORDER BY k.closed_at DESC, k.case_number {limited}", *sql.args)
        by_group: dict[tuple[str, bool | None], int] = {}
        by_cause: dict[str, tuple[str, int, set[str]]] = {}
        for r in counted:
            key = (r["department"], r["company_at_fault"])
            by_group[key] = by_group.get(key, 0) + r["closes"]
            if r["same_cause"] is not None:
                first, closes_, departments = by_cause.get(r["same_cause"], (r["cause"], 0, set()))
                by_cause[r["same_cause"]] = (
                    min(first, r["cause"]),
                    closes_ + r["closes"],
                    departments | {r["department"]},
                )
        groups = sorted(
            (LessonGroup(department, fault, n) for (department, fault), n in by_group.items()),
            key=lambda g: (g.department, {True: 0, False: 1, None: 2}[g.company_at_fault]),
        )
        causes = sorted(
            (RecurringCause(cause, n, sorted(departments)) for cause, n, departments in by_cause.values() if n > 1),
            key=lambda cause: (-cause.closes, cause.cause),
        )
        return LessonsReport(
            groups=groups,
            recurring_causes=causes[:RECURRING_CAUSES_SHOWN],
            lessons=[Lesson(**{name: r[name] for name in Lesson.__dataclass_fields__}) for r in rows],
            total=sum(group.closes for group in groups),
            search=search,
        )


def _open_complaint(record: asyncpg.Record) -> OpenComplaint:
    return OpenComplaint(**{name: record[name] for name in OpenComplaint.__dataclass_fields__})


def _empty_sla() -> SlaRow:
    return SlaRow("", 0, 0, 0, 0, 0, 0, 0, None, None, None, None)
