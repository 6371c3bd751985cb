"""ComplaintWorkflow: one complaint, from receipt to close, as the company's policy runs it.

The workflow only waits, times and calls. What an action means, who may do it and which clock fires next are
decided by `domain.lifecycle`; the Postgres record, documents and outbox are written by activities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.records import RECORD_REFUSED, ComplaintRecords
    from domain.actions import SIGNAL_ACTIONS, Action, ActionRequest, Door, MergeInto, Role
    from domain.lifecycle import (
        ActionRejected,
        ClockEvent,
        absorb_duplicate,
        allowed_actions,
        apply_action,
        apply_clock,
        check_action,
        check_merge,
        is_final,
        is_repeat,
        next_clock,
    )
    from domain.models import (
        ComplaintInput,
        ComplaintState,
        CycleClocks,
        MergeNotice,
        MergePrimary,
        RegisterComplaint,
        Stage,
        TimelineEvent,
        Transition,
        TransitionRecord,
    )
    from domain.refusals import Refusal
    from workflows.visibility import current_details, search_attributes, timer_summary

T = TypeVar("T")
A = TypeVar("A")
Decide = Callable[[datetime], Awaitable[Transition]]
"""A transition decided at a given instant (the same decision, whatever the instant)."""
_UNSET = object()

MOVING = "ComplaintMoving"
"""Error type of an update refused while the run hands over to a fresh one; `ComplaintClient` sends it again."""

RECORD_TIMEOUT = timedelta(seconds=10)
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
"""Records retry without limit: a complaint must never be lost because Postgres was away for a while. The wait
between tries stops growing at 10 s, so the writes catch up within seconds of Postgres coming back."""
RECORD_RETRY_IN_WORKER = timedelta(seconds=1)
"""The record work is a local activity: it runs in the worker that runs the workflow task, so an action costs one
workflow task instead of an activity's round trip through the server. A failed try is retried in the worker only
while the wait before the next one is at most this; a longer wait (from the third try on, RECORD_RETRY doubling
from 1 s to 10 s) is a durable timer. So an outage never holds the workflow task for long: queries are answered
and updates accepted meanwhile, and a minute of outage costs a few timers, not a hot loop. After a crash the new
worker replays and runs the write again, which writes nothing twice (see `ComplaintRecords.record_transition`)."""


@workflow.defn
class ComplaintWorkflow:
    def __init__(self) -> None:
        self.state: ComplaintState | None = None
        self._lock = asyncio.Lock()
        self._changes = 0
        self._archived = False
        self._received = False
        self._moving = False
        self._indexed: dict[str, Any] = {}
        self._alarm: tuple[datetime, asyncio.Task[None]] | None = None
        """The instant the clock's timer is set for, and the timer."""
        for action in Action:
            handler, validator = self._action_handlers(action)
            workflow.set_update_handler(action.value, handler, validator=validator)
        for action in SIGNAL_ACTIONS:
            workflow.set_signal_handler(action.value, self._signal_handler(action))

    @workflow.run
    async def run(self, start: ComplaintInput) -> ComplaintState:
        if start.carried is not None:
            self.state = start.carried
        else:
            await self._receive(start)
        self._received = True
        while not self._ended():
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new(start)
            await self._wait_for_change_or_clock()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._current()

    async def _continue_as_new(self, start: ComplaintInput) -> None:
        """Hand over to a fresh run with the whole state; its clocks follow from the state, so no timer is lost.

        New updates are refused (and resent by the client) while the accepted ones finish: under a steady stream
        of actions the run would otherwise never find a moment with no handler running."""
        self._moving = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            ComplaintInput(complaint_id=start.complaint_id, intake=start.intake, carried=self.state)
        )

    async def _receive(self, start: ComplaintInput) -> None:
        """Register the complaint: case number, deadlines, receipt form; one activity, one transaction."""
        started_at = workflow.info().start_time
        transition = await _unless_refused(
            _record_work(
                ComplaintRecords.register_complaint,
                RegisterComplaint(
                    complaint_id=start.complaint_id,
                    workflow_id=workflow.info().workflow_id,
                    intake=start.intake,
                    received_at=start.intake.received_at or started_at,
                    now=started_at,
                ),
                "register the complaint",
            )
        )
        if isinstance(transition, ApplicationError):
            raise transition  # no case number can be given: the start fails, and may be sent again fixed
        self._show(transition.state)
        settled = start.intake.settled_on_the_spot
        if settled is not None and transition.state.stage is Stage.RECEIVED:
            await self._act(
                Action.RESOLVE_ON_FIRST_CONTACT,
                ActionRequest(
                    request_id=f"{start.complaint_id}.on-the-spot",
                    actor=start.intake.taken_by or "intake",
                    role=Role.AGENT,
                    data=settled.model_dump(mode="json"),
                ),
            )

    async def _wait_for_change_or_clock(self) -> None:
        """Sleep until an action changes the state or the next clock is due, then fire that clock."""
        seen = self._changes
        clock = next_clock(self._current())
        if clock is None:
            await workflow.wait_condition(lambda: self._changes != seen)
            return
        if clock.at > workflow.now():
            set_for, alarm = self._alarm_until(clock.at, timer_summary(clock, self._current()))
            await workflow.wait_condition(lambda: self._changes != seen or alarm.done())
            if self._changes != seen or set_for != clock.at:
                return  # an action came first, or the alarm was set for an earlier clock: look again
        async with self._lock:
            if self._changes != seen:
                return
            if clock.event is ClockEvent.ARCHIVED:
                self._archived = True
                return
            state, event = self._current(), clock.event

            async def fire(at: datetime) -> Transition:
                return apply_clock(state, event, at)

            await self._record_or_carry_on(fire)

    def _alarm_until(self, at: datetime, summary: str) -> tuple[datetime, asyncio.Task[None]]:
        """The durable timer to the next clock. Most actions leave the next clock where it was or move it later, so
        the timer already set is kept and rings early at worst; only a clock that comes earlier sets a new one."""
        if self._alarm is not None:
            set_for, timer = self._alarm
            if not timer.done() and set_for <= at:
                return self._alarm
            timer.cancel()
        self._alarm = (at, asyncio.create_task(workflow.sleep(at - workflow.now(), summary=summary)))
        return self._alarm

    # ---- actions: an update (with validator) for each; the brief's three external events also as signals ----

    def _action_handlers(self, action: Action) -> tuple[Any, Any]:
        async def handle(request: ActionRequest) -> ComplaintState:
            """Answers with the new state without its history: the `timeline` query and the record have that."""
            return await self._act(action, request)

        def validate(request: ActionRequest) -> None:
            if self._moving:
                raise ApplicationError("the complaint is moving to a fresh run; send the action again", type=MOVING)
            state = self.state
            if state is not None and not is_repeat(state, request):
                try:
                    check_action(state, action, request)
                except ActionRejected as exc:
                    raise ApplicationError(str(exc), exc.details(), type="ActionRejected", non_retryable=True) from None

        return handle, validate

    def _signal_handler(self, action: Action) -> Any:
        async def handle(request: ActionRequest) -> None:
            request = request.model_copy(update={"door": Door.SIGNAL})
            try:
                await self._act(action, request)
            except ApplicationError as exc:
                workflow.logger.warning("signal %s rejected: %s", action.value, exc.message)

        return handle

    async def _act(self, action: Action, request: ActionRequest) -> ComplaintState:
        await workflow.wait_condition(lambda: self.state is not None)
        async with self._lock:
            state = self._current()
            if is_repeat(state, request):
                return state.without_history()
            try:
                check_action(state, action, request)
            except ActionRejected as exc:
                raise ApplicationError(str(exc), exc.details(), type="ActionRejected", non_retryable=True) from None
            if action is Action.MERGE_INTO:
                primary_id = MergeInto.model_validate(request.data).primary_complaint_id
                try:
                    check_merge(state, request, await self._merge_primary(primary_id))
                except ActionRejected as exc:
                    raise ApplicationError(str(exc), exc.details(), type="ActionRejected", non_retryable=True) from None
                await self._tell_primary(primary_id, request)

            async def apply(at: datetime) -> Transition:
                new_cycle = await self._clocks_from(at) if action is Action.REOPEN else None
                return apply_action(state, action, request, at, new_cycle)

            transition, refusal = await self._record(apply)
            if refusal is not None:
                raise ApplicationError(
                    f"{action.value}: not applied, {refusal.message}", type=RECORD_REFUSED, non_retryable=True
                )
            return transition.state.without_history()

    @workflow.signal(name="absorb_duplicate")
    async def absorb_duplicate(self, notice: MergeNotice) -> None:
        """A duplicate of this complaint was merged in: keep the earliest receipt, and its deadlines."""
        await workflow.wait_condition(lambda: self.state is not None)
        async with self._lock:
            state = self._current()
            if notice.request_id in state.applied_requests or notice.duplicate_complaint_id in state.duplicates:
                return
            earlier: CycleClocks | None = None
            if state.cycle == 1 and notice.received_at < state.received_at:
                earlier = await self._clocks_from(notice.received_at)

            async def absorb(at: datetime) -> Transition:
                return absorb_duplicate(state, notice.duplicate_complaint_id, notice.received_at, at, earlier)

            await self._record_or_carry_on(absorb)

    async def _tell_primary(self, primary_id: str, request: ActionRequest) -> None:
        state = self._current()
        primary = workflow.get_external_workflow_handle(f"complaint-{primary_id}")
        try:
            await primary.signal(
                "absorb_duplicate",
                MergeNotice(
                    duplicate_complaint_id=state.complaint_id,
                    duplicate_case_number=state.case_number,
                    received_at=state.received_at,
                    request_id=request.request_id,
                ),
            )
        except Exception as exc:  # the primary does not exist or has ended
            raise ApplicationError(
                f"merge_into: complaint {primary_id} cannot take the merge ({exc})",
                {"code": Refusal.MERGE_NOT_OPEN.value, "params": {"action": "merge_into", "primary": primary_id}},
                type="ActionRejected",
                non_retryable=True,
            ) from None

    # ---- queries ----

    @workflow.query
    def get_state(self) -> ComplaintState:
        return self._current()

    @workflow.query
    def timeline(self) -> list[TimelineEvent]:
        """The latest events (`POLICY.timeline_kept`); the whole history is the record's `complaint_events`."""
        return self._current().timeline

    @workflow.query
    def allowed_actions(self, role: Role | None = None) -> list[Action]:
        return allowed_actions(self._current(), role)

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def registered(self) -> ComplaintState:
        """Returns once the complaint is received (case number, deadlines): what a caller starting it waits for.
        A refused registration fails the run while this waits: the caller then asks what became of it."""
        await workflow.wait_condition(lambda: self._received)
        return self._current().without_history()

    # ---- the shell around the activities ----

    async def _clocks_from(self, received_at: Any) -> CycleClocks:
        return await _record_work(ComplaintRecords.compute_cycle_clocks, received_at, "compute the deadlines")

    async def _merge_primary(self, complaint_id: str) -> MergePrimary | None:
        return await _record_work(ComplaintRecords.find_merge_primary, complaint_id, "read the merge's primary")

    async def _record(self, decide: Decide) -> tuple[Transition, ApplicationError | None]:
        """Decide the transition now and persist it first, then take the state: the record never lags behind what
        a caller was told. Returns the transition, and the record's refusal if it refused the write for good (the
        state then not taken; the caller decides what that means).

        The activity gets the state without its history: the event it appends is the transition's own. The write
        is a local activity, run within the workflow task: if the worker died before Temporal heard of that task,
        the write happened and the replay decides again, at a later instant. The record then answers with the
        instant it holds, and the same decision is taken at that instant, so workflow and record agree."""
        transition = await decide(workflow.now())
        recorded = await _unless_refused(
            _record_work(
                ComplaintRecords.record_transition,
                TransitionRecord(
                    workflow_id=workflow.info().workflow_id,
                    transition=transition.model_copy(update={"state": transition.state.without_history()}),
                ),
                f"record {transition.event.kind}",
            )
        )
        if isinstance(recorded, ApplicationError):
            return transition, recorded
        if recorded is not None:
            transition = await decide(recorded)
        self._show(transition.state)
        return transition, None

    async def _record_or_carry_on(self, decide: Decide) -> None:
        """What the clocks and the merge do: they have happened whether or not the record takes them, so a refused
        write (listed for admins by the activity) leaves the state moved on; otherwise the clock would fire again
        and again. The next transition's snapshot carries the whole state to the record."""
        transition, refusal = await self._record(decide)
        if refusal is not None:
            workflow.logger.warning("%s kept without its record: %s", transition.event.kind, refusal.message)
            self._show(transition.state)

    def _show(self, state: ComplaintState) -> None:
        self.state = state
        self._changes += 1
        # Each upsert is a history event and a visibility write on the server: skip the ones that say nothing.
        updates = [u for u in search_attributes(state) if self._indexed.get(u.key.name, _UNSET) != u.value]
        self._indexed.update((u.key.name, u.value) for u in updates)
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(current_details(state))

    def _current(self) -> ComplaintState:
        if self.state is None:
            raise ApplicationError("the complaint is still being registered; try again in a moment", type="NotReady")
        return self.state

    def _ended(self) -> bool:
        return self._archived or is_final(self._current())


def _record_work(activity: Callable[[ComplaintRecords, A], Awaitable[T]], arg: A, summary: str) -> Awaitable[T]:
    """Short, idempotent record work next to PostgreSQL, as a local activity named for the operator."""
    return workflow.execute_local_activity_method(
        activity,
        arg,
        start_to_close_timeout=RECORD_TIMEOUT,
        retry_policy=RECORD_RETRY,
        local_retry_threshold=RECORD_RETRY_IN_WORKER,
        summary=summary,
    )


async def _unless_refused(write: Awaitable[T]) -> T | ApplicationError:
    """A record activity's result, or the record's refusal of a write that retrying cannot fix (any other failure
    is raised): the one place the workflow tells the two apart. A local activity's failure reaches the workflow
    as the activity's own error; a regular one's as the cause of an `ActivityError`."""
    try:
        return await write
    except (ActivityError, ApplicationError) as exc:
        cause = exc.cause if isinstance(exc, ActivityError) else exc
        if isinstance(cause, ApplicationError) and cause.type == RECORD_REFUSED:
            return cause
        raise
