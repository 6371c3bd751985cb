"""The project's own counters, on the worker's Temporal runtime: the same Prometheus `/metrics` as the SDK's.

Counted where the record is written, and only when the timeline row is new: each event in a complaint's timeline
is counted exactly once, whatever activity retries, workflow-task retries or replays happen. (A counter in the
workflow would skip replays, but count again when a failed workflow task is retried.)

Labels are kinds, never people: action, door, role, channel, department, clock event, activity, error type.
"""

from __future__ import annotations

from typing import Any, ClassVar

from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricCounter, MetricMeter
from temporalio.runtime import Runtime
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from domain.lifecycle import ClockEvent
from domain.models import Transition

_BREACHES = {
    ClockEvent.FIRST_RESPONSE_ESCALATED.value: "first_response",
    ClockEvent.RESOLUTION_BREACHED.value: "resolution",
}
_ESCALATIONS = {
    ClockEvent.FIRST_RESPONSE_ESCALATED.value: "supervisor",
    ClockEvent.RESOLUTION_WARNING.value: "department_head",
    ClockEvent.RESOLUTION_BREACHED.value: "manager",
}
_REMINDERS = {ClockEvent.CUSTOMER_REMINDED.value: "customer", ClockEvent.MANAGER_REMINDED.value: "manager"}


class ComplaintMetrics:
    """`complaints_*_total` counters (the exporter adds `_total` to counters) and the outbox backlog gauge."""

    _by_runtime: ClassVar[dict[int, tuple[Runtime, ComplaintMetrics]]] = {}

    def __init__(self, meter: MetricMeter) -> None:
        self.started = meter.create_counter("complaints_started", "Complaints received, by channel and department.")
        self.actions = meter.create_counter(
            "complaints_actions", "Actions recorded in complaint timelines, by action, door and role."
        )
        self.escalations = meter.create_counter(
            "complaints_escalations", "Clock escalations, by kind (the clock event) and to whom."
        )
        self.breaches = meter.create_counter("complaints_breaches", "Missed deadlines, by kind.")
        self.reminders = meter.create_counter("complaints_reminders", "Reminders sent by the clocks, by recipient.")
        self.activity_failures = meter.create_counter(
            "complaints_activity_failures", "Failed activity attempts, by activity and error type."
        )
        self.unencrypted_refused = meter.create_counter(
            "complaints_unencrypted_payloads_refused",
            "Payloads that reached the worker without encryption and were not applied (a signal dropped, an update or"
            " a start refused); counted again if the complaint's history is replayed.",
        )
        self.record_refusals = meter.create_counter(
            "complaints_record_refusals",
            "Transitions PostgreSQL refused for good (a data error retrying cannot fix), by event kind and error.",
        )
        self.outbox_pending = meter.create_gauge(
            "complaints_outbox_pending",
            "Outbox messages not delivered yet with attempts left, counted by each worker's sender every 30 s.",
        )

    @classmethod
    def of_runtime(cls, runtime: Runtime) -> ComplaintMetrics:
        """One set of counters per runtime (a process normally has one)."""
        known = cls._by_runtime.get(id(runtime))
        if known is None or known[0] is not runtime:
            known = cls._by_runtime[id(runtime)] = (runtime, cls(runtime.metric_meter))
        return known[1]

    @classmethod
    def of_client(cls, client: Client) -> ComplaintMetrics:
        return cls.of_runtime(client.service_client.config.runtime or Runtime.default())

    @classmethod
    def current(cls) -> ComplaintMetrics:
        """The running activity's worker's counters; counters that go nowhere outside an activity (unit tests)."""
        if activity.in_activity():
            try:
                return cls.of_client(activity.client())
            except RuntimeError:  # an activity environment without a client
                pass
        return _NOWHERE

    def recorded(self, transition: Transition) -> None:
        """Count one event newly written to a timeline."""
        event, state = transition.event, transition.state
        if event.kind == "received":
            _add(self.started, channel=state.intake.channel.value, department=state.department)
        elif event.door == "timer":
            if event.kind in _ESCALATIONS:
                _add(self.escalations, kind=event.kind, to=_ESCALATIONS[event.kind])
            if event.kind in _BREACHES:
                _add(self.breaches, kind=_BREACHES[event.kind])
            if event.kind in _REMINDERS:
                _add(self.reminders, to=_REMINDERS[event.kind])
        else:
            _add(self.actions, action=event.kind, door=event.door, role=event.role)


def _add(counter: MetricCounter, **labels: str) -> None:
    counter.add(1, labels)


_NOWHERE = ComplaintMetrics(MetricMeter.noop)


class ActivityFailureCounter(Interceptor):
    """Counts each failed activity attempt (a cancellation is not a failure)."""

    def __init__(self, metrics: ComplaintMetrics) -> None:
        self._metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountFailures(next, self._metrics)


class _CountFailures(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: ComplaintMetrics) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as exc:
            _add(self._metrics.activity_failures, activity=activity.info().activity_type, error=type(exc).__name__)
            raise
