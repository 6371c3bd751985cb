"""Builds and runs the worker: connections, activities, the workflow and the outbox sender, wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.database import create_pool
from activities.metrics import ActivityFailureCounter, ComplaintMetrics
from activities.migrations import migrate
from activities.outbox import OutboxSender
from activities.records import ComplaintRecords
from starter.codec import encryption_codec_of
from starter.connection import NamespaceSetup, connect_temporal, namespace_setup, register_search_attributes
from starter.settings import Settings, load_settings
from workflows.complaint import ComplaintWorkflow

log = structlog.get_logger()

WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()
"""The complaint runs outside the SDK's sandbox. The sandbox enters itself again for every payload a workflow task
carries (an `exec` of fresh source, to ask the workflow its serialization context): a quarter of the worker's event
loop per action (bench/ANALYSIS.md). What it would guard is small: `domain` and `workflows.visibility` are passed
through it anyway, so only `workflows/complaint.py` runs inside, and that file is checked by `SANDBOX_CHECK`."""

SANDBOX_CHECK = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
)
"""The test suite replays every recorded history inside the sandbox too, so workflow code that reaches for the
clock, randomness, threads or I/O fails CI instead of a replay in production. The workflow validates its input's
e-mail address with `email-validator`, which imports parts of itself inside its functions: passed through, they
are the process's modules instead of a fresh copy in every run's sandbox."""


class MetricsAddressError(RuntimeError):
    """The metrics endpoint cannot listen where configured."""


def metrics_runtime(address: str) -> Runtime:
    """A Temporal runtime serving the SDK's metrics and ours on `http://<address>/metrics`, in Prometheus style
    (`_total` counters, `_seconds` durations). Its core logs go through Python logging, so the log redaction
    applies to them too. Give it to `connect_temporal(runtime=...)` for the worker's client."""
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                    forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
                ),
                metrics=PrometheusConfig(
                    bind_address=address, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True
                ),
            )
        )
    except ValueError as exc:  # the exporter could not bind
        raise MetricsAddressError(
            f"metrics endpoint {address}: {exc} (set COMPLAINTS_METRICS_ADDRESS, or empty to turn it off)"
        ) from None


def worker_runtime(settings: Settings) -> Runtime | None:
    """The runtime for a worker process's client: with the metrics endpoint unless turned off."""
    return metrics_runtime(settings.metrics_address) if settings.metrics_address.strip() else None


def build_worker(client: Client, records: ComplaintRecords, settings: Settings) -> Worker:
    if encryption_codec_of(client.data_converter) is None:
        log.warning("worker client has no encryption codec: payloads reach Temporal in clear text")
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ComplaintWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
        activities=[
            records.register_complaint,
            records.record_transition,
            records.compute_cycle_clocks,
            records.find_merge_primary,
        ],
        interceptors=[ActivityFailureCounter(ComplaintMetrics.of_client(client))],
        max_cached_workflows=settings.max_cached_workflows,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_queue_timeout_seconds),
    )


SETUP_WAIT_FIRST = 0.5
SETUP_WAIT_LONGEST = 15.0
"""The backoff while the namespace is not ready: doubling from half a second to 15 s, so a worker that started
with its cluster notices the setup job's namespace within seconds and one left waiting on an operator asks the
server four times a minute."""


async def wait_for_namespace(client: Client, stop: asyncio.Event) -> bool:
    """Until the namespace exists with every search attribute the complaints set, registered with its type; False
    when `stop` is set first. A worker polling without them would make every start fail until it restarted.

    The worker registers missing attributes where the server lets it (the dev server, a fresh cluster); where it
    may not (Temporal Cloud) or one has the wrong type, it waits for an operator. Each wait is logged."""
    delay = SETUP_WAIT_FIRST
    while not stop.is_set():
        try:
            setup = await namespace_setup(client)
            why = "not set up yet"
            if setup.exists and setup.absent and not setup.mistyped:
                try:
                    await register_search_attributes(client, setup.absent)
                except RPCError as exc:  # Temporal Cloud, or a cluster that keeps this to its operators
                    why = f"registering refused ({exc.status.name}): waits for an operator"
                else:
                    setup = await namespace_setup(client)
            elif setup.mistyped:
                why = "registered with another type: waits for an operator"
        except RPCError as exc:  # the server went away for a moment
            setup, why = NamespaceSetup(exists=False), f"cannot be read ({exc.status.name})"
        if setup.ready:
            return True
        log.warning(
            "worker waits for its namespace before polling",
            namespace=client.namespace,
            missing=setup.missing(),
            why=why,
            retry_in_seconds=delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, SETUP_WAIT_LONGEST)
    return False


async def run_worker(
    settings: Settings | None = None,
    client: Client | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (or forever): migrations first, so a fresh database is ready before any task.

    Without `client`, connects with the configured keys and serves metrics at COMPLAINTS_METRICS_ADDRESS."""
    settings = settings or load_settings()
    if settings.database_url is None:
        raise SystemExit("DATABASE_URL is not set (or run `complaints dev`, which starts an embedded PostgreSQL)")
    stop = stop or asyncio.Event()
    async with AsyncExitStack() as stack:
        client = client or await connect_temporal(runtime=worker_runtime(settings))
        pool = await create_pool(settings.database_url, connect_timeout=5)  # fail fast; the activity retries
        stack.push_async_callback(pool.close)
        await migrate(pool)
        records = ComplaintRecords(pool, settings.calendar(), settings.notifications())
        if not await wait_for_namespace(client, stop):
            return
        sender = OutboxSender(
            pool,
            settings.smtp_transport(),
            sender=settings.smtp_sender,
            sender_name=settings.company().legal_name,  # the From's name, unless COMPLAINTS_SMTP_SENDER gives one
            metrics=ComplaintMetrics.of_client(client),
        )
        worker = build_worker(client, records, settings)
        log.info("worker started", task_queue=settings.task_queue)
        async with worker:
            await asyncio.gather(sender.run(stop), stop.wait())


if __name__ == "__main__":
    from starter.logs import configure_logging

    configure_logging()
    asyncio.run(run_worker())
