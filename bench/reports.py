"""How long each managers' report page takes over 100,000 complaints with their timelines, against a plain
`SELECT count(*)` over the same events table, measured in the same run (goal: every page within 5 times that scan).

    uv run python bench/reports.py [--complaints 100000] [--repeat 15]

Loads the complaints and their events straight into the tables with COPY (a year of receipts: most closed through
the whole lifecycle, some reopened, merged, withdrawn, breached, the last month's still open), then VACUUM ANALYZE,
as a table that has lived a while would be. The snapshots carry each cycle's real working days and the report
columns, the stage clocks and the lessons register as the record write leaves them (`Population.keep_clock`,
`activities.records.report_columns`). Then, with the real app (httpx over ASGI, a signed-in manager, every
middleware), each report page is fetched `--repeat` times, back to back with the scan; the ratio is the median page
time over the median scan time. Pages are timed with the default period (the last six months) and with the whole
year; the report queries alone (no HTML) are timed too, to show where a page's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.converter import DataConverter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.database import create_pool  # noqa: E402
from activities.migrations import migrate  # noqa: E402
from activities.records import cycle_clocks, format_case_number  # noqa: E402
from activities.reports import ComplaintReports, ReportFilter  # noqa: E402
from bench.report import quantile  # noqa: E402
from complaints.postgres_server import embedded_postgres  # noqa: E402
from domain.calendar import BUSINESS_TZ, WorkingCalendar  # noqa: E402
from domain.lifecycle import working_days_between  # noqa: E402
from domain.models import CycleClocks, Stage  # noqa: E402
from starter.client import ComplaintClient  # noqa: E402
from web.app import build_web_app  # noqa: E402
from web.settings import WebSettings  # noqa: E402
from web.users import add_user  # noqa: E402

GOAL = 5.0
PAGES = ("sla", "stages", "wip", "volume", "lessons")
DEPARTMENTS = ("customer_care", "technical", "network", "billing", "sales")
CHANNELS = ("phone", "email", "branch", "support_ticket", "letter", "web")
CAUSES = [f"Nguyên nhân số {n}: lỗi cấu hình thiết bị" for n in range(60)]
HOUR = timedelta(hours=1)

COMPLAINT_COLUMNS = (
    "complaint_id",
    "case_number",
    "workflow_id",
    "stage",
    "department",
    "channel",
    "subject",
    "cycle",
    "received_at",
    "first_response_due",
    "first_responded_at",
    "resolution_due",
    "resolution_due_date",
    "first_response_breached",
    "resolution_breached",
    "escalation_level",
    "last_seq",
    "state",
    "customer",
    "cycle_working_days",
    "cycle_resolved_at",
    "receipt_date",
    "first_response_hours",
    "resolution_working_days",
)
CLOCK_COLUMNS = (
    "complaint_id",
    "cycle",
    "stage",
    "entered_at",
    "seconds",
    "visits",
    "cause",
    "company_at_fault",
    "received_at",
    "registered_at",
    "department",
    "channel",
)
CLOSE_COLUMNS = (
    "complaint_id",
    "seq",
    "closed_at",
    "cycle",
    "summary",
    "lessons_learned",
    "cause",
    "company_at_fault",
    "case_number",
    "department",
    "channel",
)
STAGES = [stage.value for stage in Stage]
"""The order of the stage clock's arrays (`report_stages()` in migration 0009)."""
EVENT_COLUMNS = ("complaint_id", "seq", "at", "kind", "actor", "role", "door", "cycle", "summary", "data")


class Population:
    """Complaints and their timelines, made up with a fixed seed; each a real lifecycle's shape."""

    def __init__(self, count: int, now: datetime) -> None:
        self.count = count
        self.now = now
        self.random = random.Random(15)
        self.calendar = WorkingCalendar()
        self.clocks: dict[date, CycleClocks] = {}
        self.complaints: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.clocks_kept: list[tuple[Any, ...]] = []
        self.closes: list[tuple[Any, ...]] = []

    def cycle(self, received: datetime) -> CycleClocks:
        day = received.astimezone(BUSINESS_TZ).date()
        if day not in self.clocks:
            self.clocks[day] = cycle_clocks(received, self.calendar)
        found = self.clocks[day]
        deadlines = found.deadlines.model_copy(
            update={"received_at": received, "first_response_due": received + timedelta(hours=24)}
        )
        return CycleClocks(deadlines=deadlines, working_days=found.working_days)

    def build(self) -> None:
        for n in range(1, self.count + 1):
            self.one(n)

    def one(self, n: int) -> None:
        r = self.random
        complaint_id = f"bench-{n:06d}"
        received = self.now - timedelta(days=365) + timedelta(seconds=r.uniform(0, 364 * 86400))
        department, channel = r.choice(DEPARTMENTS), r.choice(CHANNELS)
        events: list[tuple[datetime, str, dict[str, Any], int, str | None]] = []
        """(at, kind, data, cycle, the stage after it: None when the event leaves the stage alone)"""
        at = received
        cycle = 1
        clocks = self.cycle(received)
        state: dict[str, Any] = {"cause": None, "resolved_at": None, "closed_at": None, "lessons_learned": None}
        flags = {"first_response_breached": False, "resolution_breached": False}
        first_responded: datetime | None = None

        def add(kind: str, after: timedelta, data: dict[str, Any] | None = None) -> bool:
            nonlocal at
            at = at + after
            if at >= self.now:
                return False
            events.append((at, kind, data or {}, cycle, None))
            return True

        stage = "received"
        events.append((received, "received", {}, 1, "received"))
        fate = r.random()
        steps: list[tuple[str, timedelta, dict[str, Any], str]] = []
        if fate < 0.03:
            steps = [("merge_into", r.uniform(0.2, 3) * HOUR, {"primary_complaint_id": "bench-000001"}, "merged")]
        elif fate < 0.06:
            steps = [
                ("acknowledge", r.uniform(0.5, 20) * HOUR, {}, "analysing"),
                ("withdraw", r.uniform(5, 100) * HOUR, {"reason": "Khách rút"}, "withdrawn"),
            ]
        else:
            late = r.random() < 0.06
            steps.append(("acknowledge", (r.uniform(25, 40) if late else r.uniform(0.3, 20)) * HOUR, {}, "analysing"))
            if r.random() < 0.35:
                steps.append(("request_info", r.uniform(1, 10) * HOUR, {"missing": ["documents"]}, "awaiting_customer"))
                steps.append(("customer_info_received", r.uniform(5, 90) * HOUR, {"summary": "Đã nhận"}, "analysing"))
            cause = {"cause": r.choice(CAUSES), "company_at_fault": r.random() < 0.4, "departments": []}
            steps.append(("cause_identified", r.uniform(4, 80) * HOUR, cause, "cause_identified"))
            steps.append(("propose_plan", r.uniform(1, 20) * HOUR, {"plan": "Khắc phục"}, "awaiting_approval"))
            steps.append(("manager_approval", r.uniform(1, 40) * HOUR, {"approved": True}, "approved"))
            steps.append(("send_resolution", r.uniform(10, 200) * HOUR, {"reply": "Đã xử lý"}, "answered"))
            lessons = {"summary": "Đã xử lý xong", "lessons_learned": f"Bài học: kiểm tra {r.choice(CAUSES)[-20:]}"}
            steps.append(("close", r.uniform(2, 48) * HOUR, lessons, "closed"))
            if r.random() < 0.05:
                steps.append(("reopen", r.uniform(24, 200) * HOUR, {"reason": "Khách không đồng ý"}, "received"))
                steps.append(("acknowledge", r.uniform(0.5, 10) * HOUR, {}, "analysing"))
                steps.append(("send_resolution", r.uniform(10, 100) * HOUR, {"reply": "Đã xử lý lại"}, "answered"))
                steps.append(("close", r.uniform(2, 48) * HOUR, lessons, "closed"))
        for kind, after, data, next_stage in steps:
            if kind == "reopen":
                if not add(kind, after, data):
                    break
                cycle += 1
                clocks = self.cycle(at)
                first_responded = None
                flags = {"first_response_breached": False, "resolution_breached": False}
                state["closed_at"] = None
                stage = next_stage
                events[-1] = (at, kind, data, cycle, next_stage)
                continue
            if first_responded is None and kind not in ("merge_into", "withdraw", "close"):
                due = clocks.deadlines.first_response_due
                if at + after > due and due < self.now and not flags["first_response_breached"]:
                    events.append((due, "first_response_escalated", {}, cycle, None))
                    flags["first_response_breached"] = True
            due = clocks.deadlines.resolution_due
            unanswered = stage not in ("answered", "closed")
            if unanswered and at + after > due < self.now and not flags["resolution_breached"]:
                events.append((due, "resolution_breached", {}, cycle, None))
                flags["resolution_breached"] = True
            if not add(kind, after, data):
                break
            stage = next_stage
            events[-1] = (*events[-1][:4], next_stage)
            if kind in ("acknowledge", "request_info", "send_resolution") and first_responded is None:
                first_responded = at
            if kind == "cause_identified":
                state["cause"] = data
            if kind == "send_resolution":
                state["resolved_at"] = at.isoformat()
            if kind == "close":
                state["closed_at"], state["lessons_learned"] = at.isoformat(), data["lessons_learned"]
        events.sort(key=lambda event: event[0])
        deadlines = clocks.deadlines
        case_number = format_case_number(received, n)
        resolved = datetime.fromisoformat(state["resolved_at"]) if state["resolved_at"] else None
        if resolved is not None and resolved < deadlines.received_at:
            resolved = None  # an earlier cycle's answer
        receipt_date = deadlines.received_at.astimezone(BUSINESS_TZ).date()
        state.update(
            complaint_id=complaint_id,
            case_number=case_number,
            stage=stage,
            department=department,
            cycle=cycle,
            deadlines=deadlines.model_dump(mode="json"),
            working_days=[day.isoformat() for day in clocks.working_days],
            first_responded_at=first_responded.isoformat() if first_responded else None,
            intake={"channel": channel, "subject": "Mất kết nối Internet", "department": department},
            **flags,
        )
        self.complaints.append(
            (
                complaint_id,
                case_number,
                f"complaint-{complaint_id}",
                stage,
                department,
                channel,
                f"Mất kết nối Internet #{n}",
                cycle,
                deadlines.received_at,
                deadlines.first_response_due,
                first_responded,
                deadlines.resolution_due,
                deadlines.resolution_due_date,
                flags["first_response_breached"],
                flags["resolution_breached"],
                3 if flags["resolution_breached"] else int(flags["first_response_breached"]),
                len(events),
                json.dumps(state, ensure_ascii=False),
                json.dumps({"name": f"Khách hàng {n}", "phone": f"09{n:08d}"}, ensure_ascii=False),
                clocks.working_days,
                resolved,
                receipt_date,
                None if first_responded is None else (first_responded - deadlines.received_at).total_seconds() / 3600,
                None
                if resolved is None
                else working_days_between(clocks.working_days, receipt_date, resolved.astimezone(BUSINESS_TZ).date()),
            )
        )
        self.keep_clock(complaint_id, case_number, department, channel, deadlines.received_at, events)
        for seq, (when, kind, data, event_cycle, _) in enumerate(events, start=1):
            actor, role = ("clock", "system") if kind.endswith(("escalated", "breached")) else ("agent.lan", "agent")
            self.events.append(
                (
                    complaint_id,
                    seq,
                    when,
                    kind,
                    actor,
                    role,
                    "web",
                    event_cycle,
                    kind.replace("_", " "),
                    json.dumps(data, ensure_ascii=False),
                )
            )

    def keep_clock(
        self,
        complaint_id: str,
        case_number: str,
        department: str,
        channel: str,
        cycle_received: datetime,
        events: list[tuple[datetime, str, dict[str, Any], int, str | None]],
    ) -> None:
        """The stage clock and the lessons register as the record write leaves them after these events (see
        `activities.records._RECORD_TRANSITION`): the clock moves when the stage or the cycle changes."""
        cycle, stage, entered = 1, "received", events[0][0]
        seconds, visits = [0.0] * len(STAGES), [0] * len(STAGES)
        visits[0] = 1
        cause: dict[str, Any] | None = None
        for seq, (at, kind, data, event_cycle, next_stage) in enumerate(events, start=1):
            if kind == "cause_identified":
                cause = data
            if kind == "close":
                self.closes.append(
                    (
                        complaint_id,
                        seq,
                        at,
                        event_cycle,
                        data["summary"],
                        data["lessons_learned"],
                        cause and cause["cause"],
                        cause and cause["company_at_fault"],
                        case_number,
                        department,
                        channel,
                    )
                )
            if seq == 1 or next_stage is None:
                continue
            if event_cycle != cycle:
                cycle, seconds, visits = event_cycle, [0.0] * len(STAGES), [0] * len(STAGES)
            elif next_stage == stage:
                continue
            else:
                seconds[STAGES.index(stage)] += max(0.0, (at - entered).total_seconds())
            visits[STAGES.index(next_stage)] += 1
            stage, entered = next_stage, at
        self.clocks_kept.append(
            (
                complaint_id,
                cycle,
                stage,
                entered,
                seconds,
                visits,
                cause and cause["cause"],
                cause and cause["company_at_fault"],
                cycle_received,
                events[0][0],
                department,
                channel,
            )
        )


async def load(database_url: str, population: Population) -> dict[str, float]:
    conn = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table("complaints", records=population.complaints, columns=COMPLAINT_COLUMNS)
        await conn.copy_records_to_table("complaint_events", records=population.events, columns=EVENT_COLUMNS)
        await conn.copy_records_to_table("complaint_stage_clock", records=population.clocks_kept, columns=CLOCK_COLUMNS)
        await conn.copy_records_to_table("complaint_closes", records=population.closes, columns=CLOSE_COLUMNS)
        copied = time.perf_counter() - started
        for table in ("complaints", "complaint_events", "complaint_stage_clock", "complaint_closes"):
            await conn.execute(f"VACUUM ANALYZE {table}")
        size = await conn.fetchval("SELECT pg_total_relation_size('complaint_events')")
        return {"copy_s": copied, "events_mib": size / 2**20}
    finally:
        await conn.close()


async def timed(call: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    await call()  # warm: prepared statements, templates, the buffer cache
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        runs.append((time.perf_counter() - started) * 1000)
    return runs


async def print_plans(pool: asyncpg.Pool, where: ReportFilter) -> None:
    """EXPLAIN ANALYZE of every statement the reports run (`--explain`): where a slow page spends its time."""
    statements: list[tuple[str, tuple[Any, ...]]] = []

    class Recording(ComplaintReports):
        async def _fetch(self, query: str, args: Any) -> list[asyncpg.Record]:
            statements.append((query, tuple(args)))
            return await super()._fetch(query, args)

        async def _fetch_side_by_side(self, queries: Any, args: Any) -> list[list[asyncpg.Record]]:
            statements.extend((query, tuple(args)) for query in queries)
            return await super()._fetch_side_by_side(queries, args)

    recording = Recording(pool)
    await recording.sla(where)
    await recording.stage_time(where)
    await recording.work_in_progress(where)
    await recording.volume(where)
    for query, args in statements:
        plan = await pool.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *args)
        print("\n".join(row[0] for row in plan), end="\n\n")


async def measure(
    database_url: str, population: Population, repeat: int, data_dir: Path, explain: bool = False
) -> None:
    pool = await create_pool(database_url)
    try:
        await migrate(pool)
        started = time.perf_counter()
        population.build()
        built = time.perf_counter() - started
        loaded = await load(database_url, population)
        print(
            f"{population.count:,} complaints, {len(population.events):,} events"
            f" ({loaded['events_mib']:.0f} MiB with indexes): made in {built:.1f} s, COPY in {loaded['copy_s']:.1f} s"
        )
        await add_user(pool, "bench.manager", "bench-password", "manager")
        # The reports never talk to Temporal; the client is there because the app's other pages do.
        no_temporal = cast(Client, SimpleNamespace(data_converter=DataConverter.default))
        app = build_web_app(ComplaintClient(no_temporal), pool, WebSettings(data_dir=data_dir))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            login = await client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            await client.post(
                "/login",
                data={"csrf_token": token.group(1), "username": "bench.manager", "password": "bench-password"},
            )

            async def scan() -> None:
                await pool.fetchval("SELECT count(*) FROM complaint_events")

            today = population.now.astimezone(BUSINESS_TZ).date()
            year = {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}
            views: list[tuple[str, Callable[[], Awaitable[object]]]] = []
            for page in PAGES:
                for label, params in (("6 months", {}), ("12 months", year)):
                    if page == "wip" and label == "12 months":
                        continue  # work in progress has no period

                    async def get(page: str = page, params: dict[str, str] = params) -> None:
                        response = await client.get(f"/reports/{page}", params=params)
                        assert response.status_code == 200, (page, response.status_code, response.text[:300])

                    views.append((f"page /reports/{page}, {label}", get))
            reports = ComplaintReports(pool)
            where = ReportFilter(today - timedelta(days=365), today)
            views += [
                ("query sla, 12 months", lambda: reports.sla(where)),
                ("query stage_time, 12 months", lambda: reports.stage_time(where)),
                ("query work_in_progress", lambda: reports.work_in_progress(where)),
                ("query volume, 12 months", lambda: reports.volume(where)),
                ("query lessons, 12 months", lambda: reports.lessons(where)),
                ("query lessons, 12 months, search", lambda: reports.lessons(where, "số 7")),
            ]
            if explain:
                await print_plans(pool, where)
            scans: list[float] = []
            print(f"\n{'view':44} {'median ms':>10} {'p95 ms':>8} {'scan ms':>8} {'ratio':>6}  goal ≤ {GOAL:g}")
            for name, call in views:
                scan_runs = await timed(scan, repeat)
                runs = await timed(call, repeat)
                scans += scan_runs
                base = statistics.median(scan_runs)
                ratio = statistics.median(runs) / base
                verdict = "met" if ratio <= GOAL else "NOT MET"
                median, p95 = statistics.median(runs), quantile(runs, 0.95)
                print(f"{name:44} {median:10.1f} {p95:8.1f} {base:8.1f} {ratio:6.2f}  {verdict}")
            print(f"\nbaseline SELECT count(*) FROM complaint_events: median {statistics.median(scans):.1f} ms")
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--complaints", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--explain", action="store_true", help="print each report query's plan first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_postgres(Path(tmp), database="bench_reports") as database_url:
            population = Population(args.complaints, datetime.now(UTC))
            await measure(database_url, population, args.repeat, Path(tmp) / "web", args.explain)


if __name__ == "__main__":
    asyncio.run(main())
