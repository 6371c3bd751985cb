"""The complaint record in Postgres: case numbers, the timeline, the snapshot, the outbox and the documents.

Every transition the workflow makes is persisted by one activity call in one transaction, keyed by the
event's timeline position, so Temporal's at-least-once activity retries write nothing twice. The snapshot
only moves forward: a late retry of an older transition leaves a newer snapshot alone.

Personal data (the customer's name and contacts) lives here and in the rendered messages and documents,
never in log lines: logs carry complaint ids, case numbers, kinds and counts only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool
import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.database import write_cannot_succeed
from activities.metrics import ComplaintMetrics
from domain.calendar import BUSINESS_TZ, WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.lifecycle import OPEN_STAGES, start_state
from domain.models import (
    Action,
    Channel,
    ComplaintState,
    ComplaintSummary,
    Customer,
    CycleClocks,
    DocumentKind,
    InfoItem,
    MergePrimary,
    Notification,
    Recipient,
    RegisterComplaint,
    Stage,
    TimelineEvent,
    Transition,
    TransitionRecord,
)

Connection: TypeAlias = "asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]"

WINDOW_DAYS_AFTER_DUE = 60
"""Calendar days past the resolution due date that a cycle's working-day list still covers (for reminders)."""

RECORD_REFUSED = "RecordRefused"
"""Error type of a record write PostgreSQL refused for good: the workflow carries on without it (see
`ComplaintRecords.refused`), instead of retrying it for ever."""

CASE_NUMBER_LOCK_CLASS = 73_104_120
"""First key of the two-key advisory lock that serialises registrations of one complaint id."""

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

DOCUMENT_TITLES: dict[DocumentKind, str] = {
    DocumentKind.RECEIPT_FORM: "PHIẾU TIẾP NHẬN KHIẾU NẠI",
    DocumentKind.RESOLUTION_RECORD: "BIÊN BẢN GIẢI QUYẾT KHIẾU NẠI",
    DocumentKind.WRITTEN_REPLY: "VĂN BẢN TRẢ LỜI KHIẾU NẠI",
    DocumentKind.FIX_REQUEST: "YÊU CẦU KHẮC PHỤC",
}

CHANNEL_NAMES: dict[str, str] = {
    Channel.BRANCH: "trực tiếp tại chi nhánh",
    Channel.PHONE: "đường dây nóng",
    Channel.LETTER: "thư gửi qua bưu điện",
    Channel.EMAIL: "thư điện tử",
    Channel.SUPPORT_TICKET: "phiếu hỗ trợ",
    Channel.WEB: "trang web",
}

STAGE_NAMES: dict[str, str] = {
    Stage.RECEIVED: "đã tiếp nhận",
    Stage.ANALYSING: "đang phân tích",
    Stage.AWAITING_CUSTOMER: "chờ khách hàng bổ sung thông tin",
    Stage.CAUSE_IDENTIFIED: "đã xác định nguyên nhân",
    Stage.AWAITING_APPROVAL: "chờ phê duyệt phương án",
    Stage.APPROVED: "phương án đã được phê duyệt",
    Stage.ANSWERED: "đã trả lời khách hàng",
    Stage.CLOSED: "đã đóng",
    Stage.MERGED: "đã gộp vào khiếu nại khác",
    Stage.WITHDRAWN: "khách hàng đã rút khiếu nại",
}

INFO_ITEM_NAMES: dict[str, str] = {
    InfoItem.CONTACT_PERSON: "người liên hệ",
    InfoItem.EMAIL: "địa chỉ thư điện tử",
    InfoItem.PHONE: "số điện thoại",
    InfoItem.DOCUMENTS: "tài liệu, chứng từ liên quan",
    InfoItem.LOGS: "nhật ký, lịch sử giao dịch",
    InfoItem.OTHER: "thông tin khác",
}

log = structlog.get_logger(__name__)


# ---- settings ----


@dataclass(frozen=True)
class NotificationSettings:
    """Who staff messages go to and whose name the letters carry; read from the environment once."""

    company_name: str = "Công ty"
    supervisor: str = "supervisor@localhost"
    manager: str = "manager@localhost"
    department_head: str = "{department}-head@localhost"
    """`{department}` is replaced by the complaint's department."""
    department: str = "{department}@localhost"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotificationSettings:
        """`COMPLAINTS_STAFF_EMAIL_<ROLE>` (SUPERVISOR, MANAGER, DEPARTMENT_HEAD, DEPARTMENT) and
        `COMPLAINTS_COMPANY_NAME`; unset means the localhost defaults the embedded stack works with."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def pick(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        return cls(
            company_name=pick("COMPLAINTS_COMPANY_NAME", defaults.company_name),
            supervisor=pick("COMPLAINTS_STAFF_EMAIL_SUPERVISOR", defaults.supervisor),
            manager=pick("COMPLAINTS_STAFF_EMAIL_MANAGER", defaults.manager),
            department_head=pick("COMPLAINTS_STAFF_EMAIL_DEPARTMENT_HEAD", defaults.department_head),
            department=pick("COMPLAINTS_STAFF_EMAIL_DEPARTMENT", defaults.department),
        )

    def staff_address(self, recipient: Recipient, department: str) -> str:
        """The mailbox of a staff recipient; department mailboxes are per department."""
        pattern = {
            Recipient.SUPERVISOR: self.supervisor,
            Recipient.MANAGER: self.manager,
            Recipient.DEPARTMENT_HEAD: self.department_head,
            Recipient.DEPARTMENT: self.department,
        }[recipient]
        return pattern.replace("{department}", department)


def customer_contact(customer: Customer) -> tuple[str, str]:
    """(medium, address) to reach the customer: e-mail when known, else phone, else the postal address."""
    if customer.email:
        return "email", customer.email
    if customer.phone:
        return "phone", customer.phone
    if customer.address:
        return "post", customer.address
    raise ValueError("customer has no contact")  # the Customer model already refuses this


# ---- clocks and case numbers ----


def cycle_clocks(received_at: datetime, calendar: WorkingCalendar) -> CycleClocks:
    """The promised deadlines of a cycle and its working days, from the local receipt date to 60 days past due."""
    deadlines = compute_deadlines(received_at, calendar)
    first = received_at.astimezone(BUSINESS_TZ).date()
    last = deadlines.resolution_due_date + timedelta(days=WINDOW_DAYS_AFTER_DUE)
    days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return CycleClocks(deadlines=deadlines, working_days=[d for d in days if calendar.is_working_day(d)])


def format_case_number(received_at: datetime, number: int) -> str:
    """`KN-<year>-<000123>`; the year of the *local* receipt date, so a New Year's Eve receipt is not misfiled."""
    return f"KN-{received_at.astimezone(BUSINESS_TZ).year}-{number:06d}"


# ---- rendering ----


def _local_time(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).strftime("%d/%m/%Y %H:%M")


def _local_date(value: date) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(BUSINESS_TZ).date()
    return value.strftime("%d/%m/%Y")


def _build_environment() -> Environment:
    """Documents are HTML and autoescaped; message bodies are plain-text e-mail, where escaping would garble."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["local_time"] = _local_time
    env.filters["local_date"] = _local_date
    env.filters["channel_name"] = lambda value: CHANNEL_NAMES.get(str(value), str(value))
    env.filters["stage_name"] = lambda value: STAGE_NAMES.get(str(value), str(value))
    env.filters["info_item_name"] = lambda value: INFO_ITEM_NAMES.get(str(value), str(value))
    return env


_TEMPLATES = _build_environment()


def _context(
    state: ComplaintState, event: TimelineEvent, settings: NotificationSettings, info_request: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "complaint": state,
        "intake": state.intake,
        "deadlines": state.deadlines,
        "event": event,
        "data": event.data,
        "company_name": settings.company_name,
        "info_request": info_request,
    }


def render_message(
    notification: Notification,
    state: ComplaintState,
    event: TimelineEvent,
    settings: NotificationSettings,
    info_request: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """(subject, body) of one notification, from `templates/messages/<template>.txt`. `info_request` is the data
    of the cycle's latest information request, which reminders repeat."""
    template = _TEMPLATES.get_template(f"messages/{notification.template}.txt")
    context = _context(state, event, settings, info_request)
    context["department"] = notification.department or state.department
    if notification.recipient is Recipient.CUSTOMER:
        context["customer"] = state.intake.customer
    subject = "".join(template.blocks["subject"](template.new_context(context)))
    body = template.render(context)
    # One line, always: a subject is an e-mail header, and free text from intake must not break it.
    return " ".join(subject.split()), body.strip() + "\n"


def render_document(
    kind: DocumentKind,
    state: ComplaintState,
    event: TimelineEvent,
    settings: NotificationSettings,
    info_request: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """(title, HTML) of one document, from `templates/documents/<kind>.html`."""
    title = DOCUMENT_TITLES[kind]
    context = _context(state, event, settings, info_request)
    context["title"] = title
    context["customer"] = state.intake.customer
    return title, _TEMPLATES.get_template(f"documents/{kind.value}.html").render(context)


# ---- the record ----


def _bound_log(complaint_id: str) -> Any:
    """A logger carrying the complaint and, inside an activity, the workflow run and attempt."""
    bound = log.bind(complaint_id=complaint_id)
    if activity.in_activity():
        info = activity.info()
        bound = bound.bind(workflow_id=info.workflow_id, run_id=info.workflow_run_id, attempt=info.attempt)
    return bound


_UPSERT_SNAPSHOT = """
INSERT INTO complaints AS c (
    complaint_id, case_number, workflow_id, stage, department, channel, subject, cycle,
    received_at, first_response_due, first_responded_at, resolution_due, resolution_due_date,
    first_response_breached, resolution_breached, escalation_level, last_seq, state, customer
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
ON CONFLICT (complaint_id) DO UPDATE SET
    workflow_id = EXCLUDED.workflow_id,
    stage = EXCLUDED.stage,
    department = EXCLUDED.department,
    channel = EXCLUDED.channel,
    subject = EXCLUDED.subject,
    cycle = EXCLUDED.cycle,
    received_at = EXCLUDED.received_at,
    first_response_due = EXCLUDED.first_response_due,
    first_responded_at = EXCLUDED.first_responded_at,
    resolution_due = EXCLUDED.resolution_due,
    resolution_due_date = EXCLUDED.resolution_due_date,
    first_response_breached = EXCLUDED.first_response_breached,
    resolution_breached = EXCLUDED.resolution_breached,
    escalation_level = EXCLUDED.escalation_level,
    last_seq = EXCLUDED.last_seq,
    state = EXCLUDED.state,
    customer = EXCLUDED.customer,
    updated_at = now()
WHERE c.last_seq < EXCLUDED.last_seq
"""

_INSERT_EVENT = """
INSERT INTO complaint_events (complaint_id, seq, at, kind, actor, role, door, cycle, summary, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (complaint_id, seq) DO NOTHING
RETURNING seq
"""

_INSERT_OUTBOX = """
INSERT INTO outbox (complaint_id, event_seq, recipient, department, template, medium, address, subject, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT ON CONSTRAINT outbox_once DO NOTHING
"""

_INSERT_DOCUMENT = """
INSERT INTO documents (complaint_id, kind, cycle, event_seq, title, body)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (complaint_id, kind, cycle) DO NOTHING
RETURNING kind
"""

_SUMMARY_COLUMNS = """
complaint_id, case_number, stage, department, channel, subject, cycle, received_at, first_response_due,
resolution_due, resolution_due_date, first_response_breached, resolution_breached, escalation_level, updated_at
"""


_SELECT_EVENTS = (
    "SELECT seq, at, kind, actor, role, door, cycle, summary, data FROM complaint_events WHERE complaint_id = $1"
)


@dataclass(frozen=True)
class TimelinePage:
    """One page of a complaint's timeline, newest first, and how many events the whole timeline holds."""

    events: list[TimelineEvent]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def snapshot_row(workflow_id: str, state: ComplaintState, last_seq: int) -> tuple[Any, ...]:
    """The `complaints` row of a state, in the column order of the snapshot upsert."""
    deadlines = state.deadlines
    return (
        state.complaint_id,
        state.case_number,
        workflow_id,
        state.stage.value,
        state.department,
        state.intake.channel.value,
        state.intake.subject,
        state.cycle,
        state.received_at,
        deadlines.first_response_due,
        state.first_responded_at,
        deadlines.resolution_due,
        deadlines.resolution_due_date,
        state.first_response_breached,
        state.resolution_breached,
        int(state.escalation_level),
        last_seq,
        state.model_dump(mode="json"),
        state.intake.customer.model_dump(mode="json", exclude_none=True),
    )


class ComplaintRecords:
    """The record-keeping activities, plus the reads that lists, the command line and the inbox need."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        calendar: WorkingCalendar,
        settings: NotificationSettings | None = None,
    ) -> None:
        self._pool = pool
        self._calendar = calendar
        self._settings = settings or NotificationSettings.from_env()

    # ---- activities ----

    @activity.defn
    async def register_complaint(self, request: RegisterComplaint) -> Transition:
        """Give the complaint its case number and record its receipt, once per complaint id.

        A retry, or a second start with the same complaint id, gets the complaint as first recorded: the same
        case number and the deadlines promised then (even if the calendar changed since). If the complaint
        has moved on since its receipt, the returned transition is its current snapshot and latest event, so
        a new run carries on from where the record stands instead of numbering events from 1 again.
        """
        clocks = cycle_clocks(request.received_at, self._calendar)
        try:
            return await self._register(request, clocks)
        except Exception as exc:
            if not write_cannot_succeed(exc):
                raise
            raise await self.refused(request.complaint_id, request.workflow_id, 1, "received", exc) from None

    async def _register(self, request: RegisterComplaint, clocks: CycleClocks) -> Transition:
        bound = _bound_log(request.complaint_id)
        async with self._pool.acquire() as conn, conn.transaction():
            # Serialise registrations of this complaint id, so two concurrent starts cannot both allocate.
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", CASE_NUMBER_LOCK_CLASS, request.complaint_id
            )
            row = await conn.fetchrow(
                "SELECT state, last_seq FROM complaints WHERE complaint_id = $1", request.complaint_id
            )
            if row is not None:
                stored = ComplaintState.model_validate(row["state"])
                bound.info("complaint already registered", case_number=stored.case_number, last_seq=row["last_seq"])
                latest = await conn.fetchrow(_SELECT_EVENTS + " AND seq = $2", request.complaint_id, row["last_seq"])
                assert latest is not None, "the snapshot and its latest event are written in one transaction"
                return _as_registered(stored, TimelineEvent.model_validate(dict(latest)))
            number = await conn.fetchval("SELECT nextval('complaint_case_number_seq')")
            case_number = format_case_number(request.received_at, int(number))
            transition = start_state(
                request.complaint_id, case_number, request.intake, request.received_at, clocks, request.now
            )
            await self._persist(conn, request.workflow_id, transition)
        bound.info("complaint registered", case_number=case_number)
        ComplaintMetrics.current().recorded(transition)
        return transition

    @activity.defn
    async def record_transition(self, record: TransitionRecord) -> datetime | None:
        """Append the event, move the snapshot forward, queue the messages and file the documents: one transaction.

        Returns None, or the instant already recorded for this event when an earlier write recorded the same event
        at another instant: a write from a workflow task Temporal never heard of (the worker died with it), which
        the workflow replayed at a later instant. The timeline is append-only: the workflow takes the recorded
        instant instead."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                new = await self._persist(conn, record.workflow_id, record.transition)
                earlier = None if new else await self._recorded_at(conn, record.transition)
        except Exception as exc:
            if not write_cannot_succeed(exc):
                raise  # the server away, a timeout, a conflict: retried, as a complaint must never be lost
            event = record.transition.event
            state = record.transition.state
            raise await self.refused(state.complaint_id, record.workflow_id, event.seq, event.kind, exc) from None
        if new:  # counted once committed, and only the first time
            ComplaintMetrics.current().recorded(record.transition)
        return earlier

    @staticmethod
    async def _recorded_at(conn: Connection, transition: Transition) -> datetime | None:
        """The instant recorded for this event's seq if the recorded event is this one at another instant."""
        event = transition.event
        row = await conn.fetchrow(
            "SELECT at, kind, actor, role, door, cycle FROM complaint_events WHERE complaint_id = $1 AND seq = $2",
            transition.state.complaint_id,
            event.seq,
        )
        if row is None or row["at"] == event.at:
            return None
        if (row["kind"], row["actor"], row["role"], row["door"], row["cycle"]) != (
            event.kind,
            event.actor,
            event.role,
            event.door,
            event.cycle,
        ):
            _bound_log(transition.state.complaint_id).error(
                "another event is recorded at this seq", seq=event.seq, kind=event.kind, recorded=row["kind"]
            )
            return None
        recorded: datetime = row["at"]
        _bound_log(transition.state.complaint_id).info("event recorded earlier at another instant", seq=event.seq)
        return recorded

    async def refused(
        self, complaint_id: str, workflow_id: str, seq: int, kind: str, exc: Exception
    ) -> ApplicationError:
        """A write PostgreSQL refused for good: listed for admins (kinds and error names only, never the data),
        counted, logged once, and answered with a non-retryable error the workflow knows how to carry on from."""
        sqlstate = getattr(exc, "sqlstate", None)
        error = type(exc).__name__
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO record_refusals (complaint_id, workflow_id, seq, kind, error, sqlstate) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                complaint_id,
                workflow_id,
                seq,
                kind,
                error,
                sqlstate,
            )
        ComplaintMetrics.current().record_refusals.add(1, {"kind": kind, "error": error})
        _bound_log(complaint_id).error(
            "record refused the transition", seq=seq, kind=kind, error=error, sqlstate=sqlstate
        )
        return ApplicationError(
            f"the record refused this {kind.replace('_', ' ')} ({error}{', SQLSTATE ' + sqlstate if sqlstate else ''});"
            " it is listed for admins",
            type=RECORD_REFUSED,
            non_retryable=True,
        )

    @activity.defn
    async def find_merge_primary(self, complaint_id: str) -> MergePrimary | None:
        """The complaint a duplicate is about to be merged into, as recorded; None when there is none."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT complaint_id, stage, cycle, received_at FROM complaints WHERE complaint_id = $1", complaint_id
            )
        return None if row is None else MergePrimary.model_validate(dict(row))

    @activity.defn
    async def compute_cycle_clocks(self, received_at: datetime) -> CycleClocks:
        """Fresh clocks for a reopen or an earlier receipt after a merge; an activity so the calendar file is read
        outside the workflow sandbox, and the result is kept in history."""
        return cycle_clocks(received_at, self._calendar)

    # ---- writing ----

    async def _persist(self, conn: Connection, workflow_id: str, transition: Transition) -> bool:
        """Write one transition; False when an earlier attempt already did.

        The snapshot is the state without its history: the events table is the timeline."""
        state, event = transition.state.without_history(), transition.event
        bound = _bound_log(state.complaint_id)
        await conn.execute(_UPSERT_SNAPSHOT, *snapshot_row(workflow_id, state, event.seq))
        inserted = await conn.fetchval(
            _INSERT_EVENT,
            state.complaint_id,
            event.seq,
            event.at,
            event.kind,
            event.actor,
            event.role,
            event.door,
            event.cycle,
            event.summary,
            event.data,
        )
        if inserted is None:
            # Recorded by an earlier attempt in the same transaction as its messages and documents.
            bound.info("transition already recorded", seq=event.seq, kind=event.kind)
            return False
        info_request = (
            await self._info_request(conn, state) if transition.notifications or transition.documents else None
        )
        for notification in transition.notifications:
            await self._queue(conn, notification, state, event, info_request)
        filed: list[str] = []
        for kind in transition.documents:
            title, body = render_document(kind, state, event, self._settings, info_request)
            if await conn.fetchval(
                _INSERT_DOCUMENT, state.complaint_id, kind.value, event.cycle, event.seq, title, body
            ):
                filed.append(kind.value)
            else:
                bound.warning("document of this kind already filed in this cycle", kind=kind.value, cycle=event.cycle)
        bound.info(
            "transition recorded",
            seq=event.seq,
            kind=event.kind,
            stage=state.stage.value,
            notifications=len(transition.notifications),
            documents=filed,
        )
        return True

    @staticmethod
    async def _info_request(conn: Connection, state: ComplaintState) -> dict[str, Any] | None:
        """The data of this cycle's latest information request (the event being written included)."""
        data: dict[str, Any] | None = await conn.fetchval(
            "SELECT data FROM complaint_events WHERE complaint_id = $1 AND kind = $2 AND cycle = $3 "
            "ORDER BY seq DESC LIMIT 1",
            state.complaint_id,
            Action.REQUEST_INFO.value,
            state.cycle,
        )
        return data

    async def _queue(
        self,
        conn: Connection,
        notification: Notification,
        state: ComplaintState,
        event: TimelineEvent,
        info_request: dict[str, Any] | None,
    ) -> None:
        if notification.recipient is Recipient.CUSTOMER:
            medium, address = customer_contact(state.intake.customer)
        else:
            department = notification.department or state.department
            medium, address = "email", self._settings.staff_address(notification.recipient, department)
        subject, body = render_message(notification, state, event, self._settings, info_request)
        await conn.execute(
            _INSERT_OUTBOX,
            state.complaint_id,
            event.seq,
            notification.recipient.value,
            notification.department,
            notification.template,
            medium,
            address,
            subject,
            body,
        )

    # ---- reading ----

    async def list_complaints(
        self,
        stage: Stage | None = None,
        overdue: bool = False,
        department: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        now: datetime | None = None,
    ) -> list[ComplaintSummary]:
        """Complaints by urgency (earliest resolution due first).

        `overdue`: still open (not closed, merged or withdrawn) and either marked breached, or past a due
        instant before the timer said so: the resolution due, or the first-response due with no first response.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        conditions: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if stage is not None:
            conditions.append(f"stage = {arg(Stage(stage).value)}")
        if department is not None:
            conditions.append(f"department = {arg(department.strip().lower())}")
        if overdue:
            moment = arg(now or datetime.now(UTC))
            conditions.append(
                f"stage = ANY({arg(sorted(s.value for s in OPEN_STAGES))}::text[]) AND ("
                "first_response_breached OR resolution_breached"
                f" OR resolution_due <= {moment}"
                f" OR (first_responded_at IS NULL AND first_response_due <= {moment}))"
            )
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            f"SELECT {_SUMMARY_COLUMNS} FROM complaints {where} "
            f"ORDER BY resolution_due, case_number LIMIT {arg(limit)} OFFSET {arg(offset)}"
        )
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return [ComplaintSummary.model_validate(dict(row)) for row in rows]

    async def get_snapshot(self, complaint_id: str) -> ComplaintState | None:
        """The complaint as of its latest recorded transition."""
        async with self._pool.acquire() as conn:
            state = await conn.fetchval("SELECT state FROM complaints WHERE complaint_id = $1", complaint_id)
        return None if state is None else ComplaintState.model_validate(state)

    async def find_by_case_number(self, case_number: str) -> str | None:
        """The complaint id behind a case number a customer quotes."""
        async with self._pool.acquire() as conn:
            found: str | None = await conn.fetchval(
                "SELECT complaint_id FROM complaints WHERE case_number = $1", case_number.strip().upper()
            )
        return found

    async def timeline(self, complaint_id: str) -> list[TimelineEvent]:
        """The recorded history, oldest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SELECT_EVENTS + " ORDER BY seq", complaint_id)
        return [TimelineEvent.model_validate(dict(row)) for row in rows]

    async def timeline_page(self, complaint_id: str, page: int, page_size: int) -> TimelinePage:
        """One page of the recorded history, newest first: a complaint with 10,000 notes still reads and renders
        a few dozen rows (the primary key walks backwards from the newest)."""
        async with self._pool.acquire() as conn:
            total = await conn.fetchval("SELECT count(*) FROM complaint_events WHERE complaint_id = $1", complaint_id)
            rows = await conn.fetch(
                _SELECT_EVENTS + " ORDER BY seq DESC LIMIT $2 OFFSET $3",
                complaint_id,
                page_size,
                (page - 1) * page_size,
            )
        return TimelinePage(
            events=[TimelineEvent.model_validate(dict(row)) for row in rows],
            total=total,
            page=page,
            page_size=page_size,
        )

    async def documents(self, complaint_id: str) -> list[dict[str, Any]]:
        """Filed documents with their rendered HTML, in the order they were written."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT complaint_id, kind, cycle, event_seq, title, body, created_at FROM documents "
                "WHERE complaint_id = $1 ORDER BY event_seq, kind",
                complaint_id,
            )
        return [dict(row) for row in rows]

    async def record_refusals(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest writes PostgreSQL refused for good, newest first: what admins look into."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT r.refused_at, r.complaint_id, c.case_number, r.seq, r.kind, r.error, r.sqlstate "
                "FROM record_refusals r LEFT JOIN complaints c USING (complaint_id) "
                "ORDER BY r.refused_at DESC, r.id DESC LIMIT $1",
                limit,
            )
        return [dict(row) for row in rows]

    async def outbox(self, complaint_id: str) -> list[dict[str, Any]]:
        """Messages queued for the complaint and whether they went out."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, complaint_id, event_seq, recipient, department, template, medium, address, subject, "
                "body, created_at, sent_at, delivered_via, attempts, last_error FROM outbox "
                "WHERE complaint_id = $1 ORDER BY id",
                complaint_id,
            )
        return [dict(row) for row in rows]


def _as_registered(stored: ComplaintState, latest: TimelineEvent) -> Transition:
    """What `register_complaint` returns for a complaint already on record (see its docstring)."""
    if latest.seq == 1:
        clocks = CycleClocks(deadlines=stored.deadlines, working_days=stored.working_days)
        return start_state(
            stored.complaint_id, stored.case_number, stored.intake, stored.received_at, clocks, latest.at
        )
    return Transition(state=stored.model_copy(update={"timeline": [latest], "last_seq": latest.seq}), event=latest)
