"""The commands on complaints: `start`, `act`, `show`, `list`, `refusals`, `schema` and `deadline`.

Each checks what it can before connecting, so a caller's mistake is named without a server in sight."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from complaints.command import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    POSTGRES_CONNECT_TIMEOUT,
    Failure,
    answered,
    company_of,
    complaint_client,
    database_url_of,
    emit,
    parse_json,
    postgres_unreachable,
    quoted,
    read_json,
    read_settings,
)
from domain.actions import ACTION_DATA, Action, ActionRequest, Door, Role
from domain.calendar import CalendarFileError
from domain.deadlines import compute_deadlines
from domain.fields import ComplaintId, DepartmentCode
from domain.intake import Intake
from domain.models import ComplaintState, Stage
from domain.text import TextRefused, check_data_shape

if TYPE_CHECKING:
    from activities.queries import ComplaintQueries

MAX_LIST_LIMIT = 1000
"""Rows `list` prints at most: a bounded page; `--offset` reaches the rest."""
MAX_LIST_OFFSET = 1_000_000_000
"""Far beyond any complaint count, and well inside PostgreSQL's bigint."""
COMPLAINT_ID = TypeAdapter(ComplaintId)
DEPARTMENT = TypeAdapter(DepartmentCode)


def _action_data(text: str) -> dict[str, Any]:
    """`--data`: a JSON object of a shape and text the text policy accepts, checked before connecting."""
    data = parse_json(text, "--data")
    if not isinstance(data, dict):
        raise Failure("--data: must be a JSON object")
    try:
        check_data_shape(data)
    except TextRefused as exc:
        named = exc.loc and exc.code != "data_too_deep"  # a text is named by its field; depth by the option
        where = ".".join(str(part) for part in ("data", *(exc.loc or ()))) if named else "--data"
        raise Failure(f"{where}: {exc.problem}") from None
    return data


def _complaint_id(text: str) -> str:
    """A complaint id as the domain defines it, checked before connecting: an empty or 100,000-character id
    is a caller's mistake to name, not a question for Temporal."""
    try:
        return COMPLAINT_ID.validate_python(text)
    except ValidationError:
        raise Failure(
            f"complaint id {quoted(text)}: letters, digits, '.', '_' and '-', at most 100, the first a letter or digit"
        ) from None


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        valid = ", ".join(a.value for a in Action)
        raise Failure(f"unknown action {quoted(name)}; valid actions: {valid}") from None


def _received_at(text: str) -> datetime:
    """A receipt instant from the command line, or one line saying what is wrong with its form."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Failure(f"received_at: not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise Failure("received_at: must include a time zone offset (e.g. +07:00 or Z)")
    return value


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(part) for part in err['loc']) or 'input'}: {err['msg']}"


# ---- what the commands print ----


def describe(state: ComplaintState) -> dict[str, Any]:
    """The complaint as `start`, `act` and `show` print it: where it stands and what is due when."""
    from starter.client import workflow_id_for

    clocks = state.deadlines.model_dump(mode="json")
    flags = state.model_dump(
        mode="json", include={"first_responded_at", "first_response_breached", "resolution_breached"}
    )
    return {
        "complaint_id": state.complaint_id,
        "workflow_id": workflow_id_for(state.complaint_id),
        "case_number": state.case_number,
        "stage": state.stage.value,
        "department": state.department,
        "channel": state.intake.channel.value,
        "subject": state.intake.subject,
        "cycle": state.cycle,
        **clocks,
        **flags,
        "escalation_level": int(state.escalation_level),
        "escalation": state.escalation_level.name.lower(),
    }


# ---- commands ----


async def cmd_start(args: argparse.Namespace) -> int:
    from starter.client import parse_intake

    raw = read_json(args.file, "intake")
    settings = read_settings()
    # Before connecting: bad input (an unknown department too) starts nothing.
    intake = parse_intake(raw, window=settings.receipt_window, company=company_of(settings))
    complaint_id = intake.complaint_id or uuid.uuid4().hex  # chosen here, so a timeout can still name it
    intake = intake.model_copy(update={"complaint_id": complaint_id})
    client = await complaint_client(args)
    state = await answered(
        client.start(intake),
        complaint_id,
        args.timeout,
        "; it is started and gets its case number once a worker runs",
    )
    emit(describe(state))
    return EXIT_OK


async def cmd_act(args: argparse.Namespace) -> int:
    complaint_id = _complaint_id(args.complaint_id)
    action = _action(args.action)
    data = _action_data(args.data) if args.data is not None else {}
    try:  # the request's own fields, checked before connecting; the action's data is the workflow's to judge
        request = ActionRequest(
            actor=args.actor,
            role=Role(args.role),
            data=data,
            door=Door.CLI,
            request_id=uuid.uuid4().hex if args.request_id is None else args.request_id,
        )
    except ValidationError as exc:
        raise Failure(_first_error(exc)) from None
    client = await complaint_client(args)
    state = await answered(
        client.act(
            complaint_id,
            action,
            actor=request.actor,
            role=request.role,
            data=data,
            request_id=request.request_id,
            door=Door.CLI,
        ),
        complaint_id,
        args.timeout,
        f"; if it was accepted it applies once the worker can record it, and sending it again with --request-id"
        f" {request.request_id} is safe",
    )
    allowed = await answered(client.allowed_actions(complaint_id, request.role), complaint_id, args.timeout)
    emit({**describe(state), "allowed_actions": [a.value for a in allowed]})
    return EXIT_OK


async def cmd_show(args: argparse.Namespace) -> int:
    from workflows.complaint import ComplaintWorkflow

    complaint_id = _complaint_id(args.complaint_id)
    client = await complaint_client(args)
    handle = client.handle(complaint_id)
    role = Role(args.role) if args.role else None
    state, allowed, timeline = await answered(
        asyncio.gather(
            handle.query(ComplaintWorkflow.get_state),
            handle.query(ComplaintWorkflow.allowed_actions, role),
            handle.query(ComplaintWorkflow.timeline),
        ),
        complaint_id,
        args.timeout,
    )
    details = state.model_dump(
        mode="json",
        include={
            "intake",
            "cause",
            "plan",
            "approval",
            "resolution",
            "resolved_at",
            "closed_at",
            "merged_into",
            "duplicates",
        },
    )
    emit(
        {
            **describe(state),
            "allowed_actions": [a.value for a in allowed],
            **details,
            "timeline": [event.model_dump(mode="json") for event in timeline],
        }
    )
    return EXIT_OK


@contextlib.asynccontextmanager
async def _records(args: argparse.Namespace) -> AsyncIterator[ComplaintQueries]:
    """The records on PostgreSQL for one read, with its failures as the command's exit statuses (3: unreachable)."""
    import asyncpg

    from activities.database import create_pool, database_unavailable
    from activities.queries import ComplaintQueries

    dsn = database_url_of(args)
    try:
        pool = await create_pool(dsn, min_size=1, max_size=1, connect_timeout=POSTGRES_CONNECT_TIMEOUT)
    except (OSError, asyncpg.PostgresError) as exc:
        raise Failure(postgres_unreachable(exc), EXIT_UNAVAILABLE) from None
    except (ValueError, OverflowError) as exc:  # a URL asyncpg cannot use (scheme, port, sslmode); never echoed
        raise Failure(f"configuration: the database URL: {exc}") from None
    try:
        yield ComplaintQueries(pool)
    except asyncpg.UndefinedTableError:
        raise Failure("the database has no complaints schema yet: start a worker once (it migrates)") from None
    except Exception as exc:  # the server went away between connecting and answering
        if not database_unavailable(exc):
            raise
        raise Failure(postgres_unreachable(exc), EXIT_UNAVAILABLE) from None
    finally:
        await pool.close()


async def cmd_list(args: argparse.Namespace) -> int:
    department = _department(args.department) if args.department is not None else None
    async with _records(args) as records:
        summaries = await records.list_complaints(
            stage=Stage(args.stage) if args.stage else None,
            overdue=args.overdue,
            department=department,
            limit=args.limit,
            offset=args.offset,
        )
    emit([summary.model_dump(mode="json") for summary in summaries])
    return EXIT_OK


async def cmd_refusals(args: argparse.Namespace) -> int:
    """The record writes PostgreSQL refused for good, newest first: what an admin looks into."""
    async with _records(args) as records:
        refused = await records.record_refusals(limit=args.limit)
    emit([{**row, "refused_at": row["refused_at"].isoformat()} for row in refused])
    return EXIT_OK


def _department(text: str) -> str:
    try:
        return DEPARTMENT.validate_python(text)
    except ValidationError:
        raise Failure(
            f"--department {quoted(text)}: a department's code, 2 to 40 lower-case letters, digits and '_'"
        ) from None


def cmd_schema(args: argparse.Namespace) -> int:
    model = Intake if args.action is None else ACTION_DATA[_action(args.action)]
    emit(model.model_json_schema())
    return EXIT_OK


def _calendar() -> Any:
    try:
        return read_settings().calendar()
    except CalendarFileError as exc:
        raise Failure(f"calendar: {exc}") from None


def cmd_deadline(args: argparse.Namespace) -> int:
    try:
        deadlines = compute_deadlines(_received_at(args.received_at), _calendar())
    except ValueError as exc:  # a receipt outside the calendar's years (year 1, 9999): one line, never a traceback
        raise Failure(str(exc)) from None
    emit(deadlines.model_dump(mode="json"))
    return EXIT_OK
