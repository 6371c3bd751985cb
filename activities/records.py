"""The record's write activities: case numbers, the timeline, the snapshot, the outbox and the documents.

Every transition the workflow makes is persisted by one activity call in one statement, keyed by the
event's timeline position, so Temporal's at-least-once activity retries write nothing twice. The snapshot
only moves forward: a late retry of an older transition leaves a newer snapshot alone.

Personal data (the customer's name and contacts) lives here and in the rendered messages and documents,
never in log lines: logs carry complaint ids, case numbers, kinds and counts only. The documents and messages
are rendered by `activities.documents`; what web and the command line read is `activities.queries`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.database import write_cannot_succeed
from activities.documents import Occasion, render_document, render_message
from activities.metrics import ComplaintMetrics
from activities.notifications import NotificationSettings, customer_contact
from activities.queries import SELECT_EVENTS
from domain.actions import Action
from domain.calendar import BUSINESS_TZ, WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.lifecycle import start_state, working_days_between
from domain.models import (
    ComplaintState,
    CycleClocks,
    MergePrimary,
    Notification,
    Recipient,
    RegisterComplaint,
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

log = structlog.get_logger(__name__)


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


# ---- the record ----


def _bound_log(complaint_id: str) -> Any:
    """A logger carrying the complaint and, inside an activity, the workflow run and attempt."""
    bound = log.bind(complaint_id=complaint_id)
    if activity.in_activity():
        info = activity.info()
        bound = bound.bind(workflow_id=info.workflow_id, run_id=info.workflow_run_id, attempt=info.attempt)
    return bound


_RECORD_TRANSITION = """
WITH snapshot AS (
    INSERT INTO complaints AS c (
        complaint_id, case_number, workflow_id, stage, department, channel, subject, cycle,
        received_at, first_response_due, first_responded_at, resolution_due, resolution_due_date,
        first_response_breached, resolution_breached, escalation_level, last_seq, state, customer, customer_message_id,
        customer_wrote_seq, cycle_working_days, cycle_resolved_at, receipt_date, first_response_hours,
        resolution_working_days
    ) VALUES (
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $18::jsonb #>> '{intake,message_id}',
        CASE WHEN $23::text = 'system' AND $21::text IN ('customer_wrote', 'customer_info_received') THEN $17::int END,
        $38, $39, $40, $41, $42
    )
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
        customer_wrote_seq = coalesce(EXCLUDED.customer_wrote_seq, c.customer_wrote_seq),
        cycle_working_days = CASE WHEN (c.cycle, c.received_at) = (EXCLUDED.cycle, EXCLUDED.received_at)
            THEN c.cycle_working_days ELSE EXCLUDED.cycle_working_days END,
        cycle_resolved_at = EXCLUDED.cycle_resolved_at,
        receipt_date = EXCLUDED.receipt_date,
        first_response_hours = EXCLUDED.first_response_hours,
        resolution_working_days = EXCLUDED.resolution_working_days,
        updated_at = now()
    WHERE c.last_seq < EXCLUDED.last_seq
), event AS (
    INSERT INTO complaint_events (complaint_id, seq, at, kind, actor, role, door, cycle, summary, data)
    VALUES ($1, $17, $20, $21, $22, $23, $24, $25, $26, $27)
    ON CONFLICT (complaint_id, seq) DO NOTHING
    RETURNING seq
), messages AS (
    INSERT INTO outbox (complaint_id, event_seq, recipient, department, template, medium, address, subject, body)
    SELECT $1, event.seq, m.recipient, m.department, m.template, m.medium, m.address, m.subject, m.body
    FROM event, unnest($28::text[], $29::text[], $30::text[], $31::text[], $32::text[], $33::text[], $34::text[])
        WITH ORDINALITY AS m (recipient, department, template, medium, address, subject, body, position)
    ORDER BY m.position
    ON CONFLICT ON CONSTRAINT outbox_once DO NOTHING
), filed AS (
    INSERT INTO documents (complaint_id, kind, cycle, event_seq, title, body)
    SELECT $1, d.kind, $25, event.seq, d.title, d.body
    FROM event, unnest($35::text[], $36::text[], $37::text[]) AS d (kind, title, body)
    ON CONFLICT (complaint_id, kind, cycle) DO NOTHING
    RETURNING kind
), clock AS (
    INSERT INTO complaint_stage_clock AS k (
        complaint_id, cycle, stage, entered_at, seconds, visits, cause, company_at_fault,
        received_at, registered_at, department, channel
    )
    SELECT $1, $8, $4, $20, array_fill(0::double precision, ARRAY[10]),
        report_stage_added(array_fill(0, ARRAY[10]), $4, 1), $43, $44, $9, $20, $5, $6
    FROM event
    ON CONFLICT (complaint_id) DO UPDATE SET
        cycle = EXCLUDED.cycle,
        stage = EXCLUDED.stage,
        entered_at = CASE WHEN (k.cycle, k.stage) = (EXCLUDED.cycle, EXCLUDED.stage) THEN k.entered_at
            ELSE EXCLUDED.entered_at END,
        seconds = CASE
            WHEN k.cycle <> EXCLUDED.cycle THEN EXCLUDED.seconds
            WHEN k.stage = EXCLUDED.stage THEN k.seconds
            ELSE report_stage_added(
                k.seconds, k.stage, greatest(0, date_part('epoch', EXCLUDED.entered_at - k.entered_at))
            )
        END,
        visits = CASE
            WHEN k.cycle <> EXCLUDED.cycle THEN EXCLUDED.visits
            WHEN k.stage = EXCLUDED.stage THEN k.visits
            ELSE report_stage_added(k.visits, EXCLUDED.stage, 1)
        END,
        cause = EXCLUDED.cause,
        company_at_fault = EXCLUDED.company_at_fault,
        received_at = EXCLUDED.received_at,
        department = EXCLUDED.department
    WHERE (k.cycle, k.stage, k.received_at, k.department) IS DISTINCT FROM
            (EXCLUDED.cycle, EXCLUDED.stage, EXCLUDED.received_at, EXCLUDED.department)
        OR (k.cause, k.company_at_fault) IS DISTINCT FROM (EXCLUDED.cause, EXCLUDED.company_at_fault)
), closed AS (
    INSERT INTO complaint_closes (
        complaint_id, seq, closed_at, cycle, summary, lessons_learned, cause, company_at_fault,
        case_number, department, channel
    )
    SELECT $1, event.seq, $20, $25, coalesce($27::jsonb ->> 'summary', ''),
        coalesce($27::jsonb ->> 'lessons_learned', ''), $43, $44, $2, $5, $6
    FROM event
    WHERE $21::text = 'close'
    ON CONFLICT DO NOTHING
)
SELECT (SELECT seq FROM event) AS seq, ARRAY(SELECT kind FROM filed) AS filed
"""
"""One transition in one statement, so one round trip to PostgreSQL: the snapshot moves forward (only forward: a
late retry of an older transition leaves a newer snapshot alone), the event is appended, and only if it was new
are its messages queued, its documents filed and the reports' derivations kept: the stage clock (the time spent
in each stage, from the stage and cycle the domain decided: the clock moves when they change, adding the time since
the stage was entered to the stage left) and, for a close, the lessons learned register with the cause on record.
The snapshot keeps where the customer last wrote themselves (a system door's `customer_wrote` or
`customer_info_received`), which the inbox compares with what staff have seen, and the reports' columns
(`report_columns`): the cycle's working days (a few hundred bytes, stored out of line) are kept as stored until a
new cycle or receipt brings others, so most writes do not store them again.
A statement is atomic on its own: no BEGIN and COMMIT around it. Answers the event's seq (NULL when an earlier
attempt recorded it) and the kinds of the documents filed."""


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


def report_columns(state: ComplaintState) -> tuple[list[date], datetime | None, date, float | None, int | None]:
    """The snapshot's columns for the managers' reports (`activities.reports`), from the state, in the column order
    of the snapshot upsert: the cycle's own working days (a later calendar change moves neither a promise nor how
    long a complaint took), the instant this cycle was answered (`resolved_at` stays in the state after a reopen:
    an answer older than the cycle's receipt is an earlier cycle's), the local date of receipt, clock hours to the
    first response and working days to the answer."""
    received = state.received_at
    resolved = state.resolved_at if state.resolved_at is not None and state.resolved_at >= received else None
    receipt_date = received.astimezone(BUSINESS_TZ).date()
    responded = state.first_responded_at
    return (
        state.working_days,
        resolved,
        receipt_date,
        None if responded is None else (responded - received).total_seconds() / 3600,
        None
        if resolved is None
        else working_days_between(state.working_days, receipt_date, resolved.astimezone(BUSINESS_TZ).date()),
    )


class ComplaintRecords:
    """The record-keeping activities: every write the workflow makes to the record."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        calendar: WorkingCalendar,
        settings: NotificationSettings,
    ) -> None:
        self._pool = pool
        self._calendar = calendar
        self._settings = settings

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
                latest = await conn.fetchrow(SELECT_EVENTS + " AND seq = $2", request.complaint_id, row["last_seq"])
                assert latest is not None, "the snapshot and its latest event are written in one transaction"
                return _as_registered(stored, TimelineEvent.model_validate(dict(latest)))
            number = await conn.fetchval("SELECT nextval('complaint_case_number_seq')")
            case_number = format_case_number(request.received_at, int(number))
            transition = start_state(request.complaint_id, case_number, request.intake, clocks, request.now)
            await self._persist(conn, request.workflow_id, transition)
        bound.info("complaint registered", case_number=case_number)
        ComplaintMetrics.current().recorded(transition)
        return transition

    @activity.defn
    async def record_transition(self, record: TransitionRecord) -> datetime | None:
        """Append the event, move the snapshot forward, queue the messages and file the documents: one statement.

        Returns None, or the instant already recorded for this event when an earlier write recorded the same event
        at another instant: a write from a workflow task Temporal never heard of (the worker died with it), which
        the workflow replayed at a later instant. The timeline is append-only: the workflow takes the recorded
        instant instead."""
        try:
            async with self._pool.acquire() as conn:
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

        The snapshot is the state without its history: the events table is the timeline. Messages and documents
        are rendered first and written in the same statement as the event (see `_RECORD_TRANSITION`)."""
        state, event = transition.state.without_history(), transition.event
        messages: list[tuple[str, str | None, str, str, str, str, str]] = []
        documents: list[tuple[str, str, str]] = []
        if transition.notifications or transition.documents:
            occasion = Occasion(state, event, self._settings, await self._info_request(conn, transition))
            messages = [self._message(notification, occasion) for notification in transition.notifications]
            documents = [(kind.value, *render_document(kind, occasion)) for kind in transition.documents]
        row = await conn.fetchrow(
            _RECORD_TRANSITION,
            *snapshot_row(workflow_id, state, event.seq),
            event.at,
            event.kind,
            event.actor,
            event.role,
            event.door,
            event.cycle,
            event.summary,
            event.data,
            *_columns(messages, 7),
            *_columns(documents, 3),
            *report_columns(state),
            state.cause.cause if state.cause else None,
            state.cause.company_at_fault if state.cause else None,
        )
        bound = _bound_log(state.complaint_id)
        if row is None or row["seq"] is None:
            # Recorded by an earlier attempt, in the same statement as its messages and documents.
            bound.info("transition already recorded", seq=event.seq, kind=event.kind)
            return False
        filed: list[str] = list(row["filed"])
        for kind, _, _ in documents:
            if kind not in filed:
                bound.warning("document of this kind already filed in this cycle", kind=kind, cycle=event.cycle)
        bound.info(
            "transition recorded",
            seq=event.seq,
            kind=event.kind,
            stage=state.stage.value,
            notifications=len(messages),
            documents=filed,
        )
        return True

    @staticmethod
    async def _info_request(conn: Connection, transition: Transition) -> dict[str, Any] | None:
        """The data of this cycle's latest information request, the event being written included."""
        state, event = transition.state, transition.event
        if event.kind == Action.REQUEST_INFO.value:
            return event.data
        data: dict[str, Any] | None = await conn.fetchval(
            "SELECT data FROM complaint_events WHERE complaint_id = $1 AND kind = $2 AND cycle = $3 "
            "ORDER BY seq DESC LIMIT 1",
            state.complaint_id,
            Action.REQUEST_INFO.value,
            state.cycle,
        )
        return data

    def _message(
        self, notification: Notification, occasion: Occasion
    ) -> tuple[str, str | None, str, str, str, str, str]:
        """An outbox row's columns: who, how, where and what."""
        state = occasion.state
        if notification.recipient is Recipient.CUSTOMER:
            medium, address = customer_contact(state.intake.customer)
        else:
            department = notification.department or state.department
            medium, address = "email", self._settings.staff_address(notification.recipient, department)
        subject, body = render_message(notification, occasion)
        return (
            notification.recipient.value,
            notification.department,
            notification.template,
            medium,
            address,
            subject,
            body,
        )


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one list per column, for `unnest` (an empty list of rows: `width` empty columns)."""
    return [[row[i] for row in rows] for i in range(width)]


def _as_registered(stored: ComplaintState, latest: TimelineEvent) -> Transition:
    """What `register_complaint` returns for a complaint already on record (see its docstring)."""
    if latest.seq == 1:
        clocks = CycleClocks(deadlines=stored.deadlines, working_days=stored.working_days)
        return start_state(stored.complaint_id, stored.case_number, stored.intake, clocks, latest.at)
    return Transition(state=stored.model_copy(update={"timeline": [latest], "last_seq": latest.seq}), event=latest)
