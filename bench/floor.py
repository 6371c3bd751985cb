"""The Temporal floor: a bare workflow that does what a complaint does to Temporal, and nothing else.

Each benchmark figure is a ratio against this workflow measured on the same server, the same client (with the same
encryption codec) and a worker with the same settings, so what the ratio shows is the cost of the complaint's own
work (domain rules, pydantic state, search attributes, Postgres records), not of Temporal or of the machine.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client
    from temporalio.worker import Worker

    from starter.settings import Settings
    from workflows.visibility import CASE_NUMBER, STAGE

NOOP_TIMEOUT = timedelta(seconds=10)


@activity.defn
async def noop(step: int) -> int:
    """The cheapest activity there is: one round trip through the server and the worker's activity slots."""
    return step


@workflow.defn(sandboxed=True)
class BareWorkflow:
    """Registers with one no-op activity (as a complaint registers with one record), then runs one no-op
    activity per update (as each complaint action records one transition), and optionally fires timers at
    given offsets, each with one no-op activity (as a complaint's clocks record an escalation).

    With `visible`, it also keeps the operator's view the design asks of a complaint, and nothing more: one
    search-attribute upsert once registered (the case number) and one per update (the stage). On the dev server
    each upsert is a visibility write, so this floor shows what that view costs Temporal by itself.

    With `local`, every no-op runs as a local activity, as a complaint's record work does since 0.1.0: the floor
    of a workflow that makes one workflow task of each update."""

    def __init__(self) -> None:
        self._registered = False
        self._steps = 0
        self._visible = False
        self._local = False

    @workflow.run
    async def run(self, timers: list[float], visible: bool = False, local: bool = False) -> None:
        self._visible = visible
        self._local = local
        await self._noop(0)
        if visible:
            workflow.upsert_search_attributes([CASE_NUMBER.value_set(workflow.info().workflow_id)])
        self._registered = True
        started = workflow.now()
        for offset in timers:
            delay = (started + timedelta(seconds=offset) - workflow.now()).total_seconds()
            if delay > 0:
                await workflow.sleep(delay)
            await self._noop(-1)
        await workflow.wait_condition(lambda: False)  # stays open, as a complaint does after it closes

    @workflow.update
    async def registered(self) -> int:
        await workflow.wait_condition(lambda: self._registered)
        return 0

    @workflow.update
    async def act(self, step: int) -> int:
        await self._noop(step)
        if self._visible:
            workflow.upsert_search_attributes([STAGE.value_set(f"step-{step}")])
        self._steps += 1
        return self._steps

    async def _noop(self, step: int) -> int:
        if self._local:
            return await workflow.execute_local_activity(noop, step, start_to_close_timeout=NOOP_TIMEOUT)
        return await workflow.execute_activity(noop, step, start_to_close_timeout=NOOP_TIMEOUT)


def floor_worker(client: Client, task_queue: str, settings: Settings) -> Worker:
    """A worker for the bare workflow, with the tuning `worker.build_worker` gives the complaint worker."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[noop],
        max_cached_workflows=settings.max_cached_workflows,
    )
