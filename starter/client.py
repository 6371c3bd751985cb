"""The typed client other services use to start complaints and act on them.

Every door (this SDK, the `complaints` command, the web form) goes through here, so input is checked the same
way everywhere and a complaint id always maps to the same workflow id.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import Action, ActionRequest, Door, Role
from domain.company import CompanyProfile
from domain.intake import Intake, IntakeError, check_received_at
from domain.lifecycle import ActionRejected, parse_data
from domain.models import ComplaintInput, ComplaintState
from domain.policy import POLICY
from domain.refusals import Refusal
from starter.settings import load_company_profile
from workflows.complaint import MOVING, ComplaintWorkflow
from workflows.visibility import start_attributes, static_summary

DEFAULT_TASK_QUEUE = "complaints"
MAX_REQUEST_BYTES = 128 * 1024
"""Far above what an action's model admits (two texts of 5,000 characters), far below Temporal's 2 MB limit."""
MOVING_PAUSE = 0.2
MOVING_RETRIES = 100
"""An action refused while its complaint continues as new is sent again (same request id), for up to ~20 s."""


class ActionFailed(Exception):
    """An action the workflow refused; `reason` is its words, fit to show an agent. `code` and `params` are the
    lifecycle's refusal (`domain.refusals.Refusal`), for a door that words it in its reader's language; None when
    the refusal came without one (the record refused the write, the client's own checks, an older worker)."""

    def __init__(self, action: str, reason: str, code: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(f"{action}: {reason}" if not reason.startswith(action) else reason)
        self.action = action
        self.reason = reason
        self.code = code
        self.params = dict(params or {}) if code is not None else None

    @classmethod
    def from_error(cls, action: str, error: ApplicationError) -> ActionFailed:
        """The workflow's `ApplicationError`, its code and params read from the first detail when it has them."""
        detail = error.details[0] if error.details else None
        if isinstance(detail, dict) and isinstance(detail.get("code"), str):
            params = detail.get("params")
            return cls(action, error.message, detail["code"], dict(params) if isinstance(params, dict) else {})
        return cls(action, error.message)


def workflow_id_for(complaint_id: str) -> str:
    return f"complaint-{complaint_id}"


def parse_intake(
    raw: Any,
    now: datetime | None = None,
    window: timedelta = POLICY.receipt_window,
    company: CompanyProfile | None = None,
) -> Intake:
    """Intake from JSON-like data, or `IntakeError` naming the first bad field, its code the pydantic error type
    (a text policy code such as `text_control_character`, `received_at_too_early`, or `department_unknown` for a
    department not in `company`'s profile). Nothing is started on error.
    """
    try:
        intake = Intake.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"]) or "intake"
        raise IntakeError(
            field, err["msg"].removeprefix("Value error, "), err["type"], dict(err.get("ctx") or {})
        ) from None
    if company is not None:
        company.check_intake(intake)
    if intake.received_at is not None:
        check_received_at(intake.received_at, now or datetime.now(UTC), window)
    return intake


def checked_before_sending(action: Action, request: ActionRequest, company: CompanyProfile) -> None:
    """The action's data as its own model takes it, naming only the company's departments, and the request within
    `MAX_REQUEST_BYTES`; else `ActionFailed` naming the field. Only the workflow knows whether the action is allowed
    now, but data that no stage would take (a note of three megabytes, a transfer to a department the company does
    not have) must not travel to Temporal: it would only be refused there, be recorded, or, grown past the payload
    limit, fail the complaint's workflow task."""
    try:
        company.check_action(action, parse_data(action, request))
    except ActionRejected as exc:
        raise ActionFailed(action.value, str(exc), exc.code.value, exc.params) from None
    size = len(request.model_dump_json().encode())
    if size > MAX_REQUEST_BYTES:
        raise ActionFailed(action.value, f"data: too large ({size} bytes; at most {MAX_REQUEST_BYTES})")


class ComplaintClient:
    def __init__(
        self,
        client: Client,
        task_queue: str = DEFAULT_TASK_QUEUE,
        receipt_window: timedelta = POLICY.receipt_window,
        company: CompanyProfile | None = None,
    ) -> None:
        """`receipt_window`: how long before now a `received_at` may lie (`COMPLAINTS_RECEIPT_WINDOW_DAYS`).
        `company`: the profile whose departments a complaint may be received by, transferred to or name
        (`Settings.company()`, as the worker's); unset, the built-in one (`starter/company.toml`). Every door goes
        through here, so an unknown department is refused the same way at each, before anything starts."""
        self.client = client
        self.task_queue = task_queue
        self.receipt_window = receipt_window
        self.company = company or load_company_profile()

    async def start(self, raw_intake: Intake | dict[str, Any]) -> ComplaintState:
        """Start a complaint and return it once registered (case number, deadlines).

        Starting the same `complaint_id` twice returns the complaint already there: it is the caller's
        idempotency key (a ticket number, a hash of an e-mail's Message-ID).
        """
        intake = parse_intake(
            raw_intake.model_dump(mode="json") if isinstance(raw_intake, Intake) else raw_intake,
            window=self.receipt_window,
            company=self.company,
        )
        complaint_id = intake.complaint_id or uuid.uuid4().hex
        intake = intake.model_copy(update={"complaint_id": complaint_id})
        start = WithStartWorkflowOperation(
            ComplaintWorkflow.run,
            ComplaintInput(complaint_id=complaint_id, intake=intake),
            id=workflow_id_for(complaint_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,  # a refused registration, sent again
            search_attributes=start_attributes(intake),
            static_summary=static_summary(intake),
        )
        try:
            # One call starts the run and waits for its registration, which the run's first task already sees.
            return await self.client.execute_update_with_start_workflow(
                ComplaintWorkflow.registered,  # type: ignore[arg-type]  # the SDK types a decorator with options apart
                start_workflow_operation=start,
            )
        except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError, RPCError) as exc:
            if isinstance(exc, RPCError) and exc.status is not RPCStatusCode.ALREADY_EXISTS:
                raise  # the server is unreachable or busy: the caller retries, with the same complaint id
            # Ended long ago (the same complaint, not a new one), or ending now: what it became.
            return await self._existing(complaint_id)

    async def _existing(self, complaint_id: str) -> ComplaintState:
        """The complaint a start found; `ActionFailed` when its registration was refused (it never got a case
        number: the run failed, and a corrected start with the same complaint id runs again)."""
        handle = self.handle(complaint_id)
        try:
            return await handle.query(ComplaintWorkflow.get_state)
        except WorkflowQueryFailedError:
            if (await handle.describe()).status is not WorkflowExecutionStatus.FAILED:
                raise
        try:
            await handle.result()
        except WorkflowFailureError as failed:
            cause = failed.cause
            raise ActionFailed("start", cause.message if isinstance(cause, ApplicationError) else str(cause)) from None
        raise ActionFailed("start", f"complaint {complaint_id} ended without being registered")

    async def act(
        self,
        complaint_id: str,
        action: Action | str,
        *,
        actor: str,
        role: Role | str,
        data: dict[str, Any] | None = None,
        request_id: str | None = None,
        door: Door = Door.SDK,
    ) -> ComplaintState:
        """Apply one action. Raises `ActionFailed` with the workflow's reason when it is not allowed now.

        `request_id` makes a retry safe: the same id applied twice changes nothing. It doubles as the update id,
        so Temporal itself also deduplicates the call.
        """
        action = Action(action)
        try:
            request = ActionRequest(
                request_id=request_id or uuid.uuid4().hex, actor=actor, role=role, data=data or {}, door=door
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            params = {key: str(value) for key, value in (err.get("ctx") or {}).items()}
            params |= {"action": action.value, "field": field, "problem": err["type"]}
            raise ActionFailed(action.value, f"{field}: {err['msg']}", Refusal.FIELD_INVALID.value, params) from None
        checked_before_sending(action, request, self.company)
        for _ in range(MOVING_RETRIES):
            try:
                state: ComplaintState = await self.handle(complaint_id).execute_update(
                    action.value, request, id=request.request_id, result_type=ComplaintState
                )
                return state
            except WorkflowUpdateFailedError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError) and cause.type == MOVING:
                    await asyncio.sleep(MOVING_PAUSE)  # the run is continuing as new: the next one takes it
                    continue
                if isinstance(cause, ApplicationError):
                    raise ActionFailed.from_error(action.value, cause) from None
                raise ActionFailed(action.value, str(cause)) from None
            except RPCError as exc:
                if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise ActionFailed(
                        action.value, f"complaint {complaint_id} is not open (unknown or ended)"
                    ) from None
                raise
        raise ActionFailed(action.value, "the complaint is still moving to a fresh run; try again in a moment")

    async def signal(self, complaint_id: str, action: Action | str, request: ActionRequest) -> None:
        """Fire-and-forget for the three external events; rules are the same, a rejection is only logged. Data the
        action could never take is refused here (`ActionFailed`), before it is sent."""
        checked_before_sending(Action(action), request, self.company)
        await self.handle(complaint_id).signal(Action(action).value, request)

    async def state(self, complaint_id: str) -> ComplaintState:
        return await self.handle(complaint_id).query(ComplaintWorkflow.get_state)

    async def allowed_actions(self, complaint_id: str, role: Role | None = None) -> list[Action]:
        return await self.handle(complaint_id).query(ComplaintWorkflow.allowed_actions, role)

    def handle(self, complaint_id: str) -> WorkflowHandle[ComplaintWorkflow, ComplaintState]:
        return self.client.get_workflow_handle_for(ComplaintWorkflow.run, workflow_id_for(complaint_id))
