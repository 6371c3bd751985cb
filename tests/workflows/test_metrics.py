"""The worker's Prometheus endpoint: Temporal's own metrics and the complaints counters, moved by a lifecycle."""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from workflow_support import PERSONAL, TEST_DATA_CONVERTER, StumblingRecords

from complaints.temporal_server import free_port
from domain.actions import Action, ActionRequest, Role
from domain.calendar import WorkingCalendar
from domain.models import EscalationLevel, Stage
from starter.client import ComplaintClient
from starter.settings import Settings
from worker import MetricsAddressError, build_worker, metrics_runtime

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def samples(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match["value"])
    return total


async def scrape(address: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
            body: bytes = response.read()
            return body.decode()

    return await asyncio.to_thread(get)


@pytest.fixture(scope="module")
async def metered(time_env: WorkflowEnvironment, pool: asyncpg.Pool) -> AsyncIterator[tuple[ComplaintClient, str]]:
    """A worker whose client runs on a runtime of its own, serving /metrics on a free port."""
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(address)
    client = await Client.connect(
        time_env.client.service_client.config.target_host,
        namespace=time_env.client.namespace,
        data_converter=TEST_DATA_CONVERTER,
        runtime=runtime,
    )
    settings = Settings(task_queue=f"metered-{uuid.uuid4().hex[:8]}")
    async with build_worker(client, StumblingRecords(pool, WorkingCalendar()), settings):
        yield ComplaintClient(client, settings.task_queue), address


async def test_a_lifecycle_moves_the_counters(
    intake: Any, metered: tuple[ComplaintClient, str], time_env: WorkflowEnvironment
) -> None:
    complaints, address = metered
    before = await scrape(address)
    assert samples(before, "complaints_actions_total") == 0

    cid = (await complaints.start(intake(channel="email"))).complaint_id
    silent = (await complaints.start(intake(channel="phone", department="billing"))).complaint_id
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT)
    await complaints.act(cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["documents"], "message": "m"})
    await complaints.signal(
        cid,
        Action.CUSTOMER_INFO_RECEIVED,
        ActionRequest(request_id="mail-1", actor="email-ingest", role=Role.SYSTEM, data={"summary": "s"}),
    )
    for _ in range(100):
        if (await complaints.state(cid)).stage is Stage.ANALYSING:
            break
        await asyncio.sleep(0.05)
    await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": "đã gọi"})  # its first attempt fails
    await time_env.sleep(timedelta(hours=25))
    for _ in range(100):
        if (await complaints.state(silent)).escalation_level is EscalationLevel.SUPERVISOR:
            break
        await asyncio.sleep(0.05)

    text = await scrape(address)
    assert samples(text, "complaints_started_total") == 2
    assert samples(text, "complaints_started_total", channel="phone", department="billing") == 1
    assert samples(text, "complaints_actions_total", action="acknowledge", door="sdk", role="agent") == 1
    assert samples(text, "complaints_actions_total", action="customer_info_received", door="signal") == 1
    assert samples(text, "complaints_actions_total", action="add_note") == 1  # recorded once, though retried
    assert samples(text, "complaints_escalations_total", kind="first_response_escalated", to="supervisor") == 1
    assert samples(text, "complaints_breaches_total", kind="first_response") == 1
    assert samples(text, "complaints_activity_failures_total", activity="record_transition", error="RuntimeError") == 1
    # Temporal's own, in Prometheus style
    assert samples(text, "temporal_workflow_task_execution_latency_seconds_count") > 0
    # the record work runs as local activities (one workflow task per action), each failed attempt counted
    assert samples(text, "temporal_local_activity_execution_latency_seconds_count", activity_type="record_transition")
    assert samples(text, "temporal_local_activity_execution_failed_total", activity_type="record_transition") == 1
    assert "# TYPE complaints_actions_total counter" in text
    for personal in (*PERSONAL, cid, silent):
        assert personal not in text  # labels hold kinds, never people (nor complaint ids: unbounded)


def test_a_taken_metrics_address_is_named() -> None:
    address = f"127.0.0.1:{free_port()}"
    serving = metrics_runtime(address)
    with pytest.raises(MetricsAddressError, match=re.escape(address)):
        metrics_runtime(address)
    del serving
