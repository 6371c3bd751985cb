"""Figure 2: the latency of one action on a cached, idle complaint, through the SDK and through the web form,
against one update (one no-op activity) on the bare workflow, and against one update whose no-op activity is a
local one (the floor of any action that records before it answers, as a complaint's does).

The four kinds of call are interleaved one by one, so a noisy moment of the machine hits all of them alike."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.client import WorkflowHandle

from bench.floor import BareWorkflow
from bench.report import quantile
from bench.throughput import bench_id, intake
from domain.actions import Action, Role
from starter.client import ComplaintClient
from web.app import build_web_app
from web.settings import WebSettings
from web.users import add_user

WORKFLOWS = 10
"""Complaints (and bare workflows) the samples rotate over, so no one complaint's timeline grows long."""
USERNAME = "bench.agent"
PASSWORD = "bench password, not a secret"
NOTE = "Đã gọi lại cho khách, hẹn kiểm tra lại lúc 15 giờ."


@dataclass
class Samples:
    """Milliseconds per call of each kind, for one round."""

    bare: list[float] = field(default_factory=list)
    local: list[float] = field(default_factory=list)
    """The bare update with a local no-op activity (`BareWorkflow`'s `local`)."""
    sdk: list[float] = field(default_factory=list)
    web: list[float] = field(default_factory=list)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no CSRF token in the page")
    return found.group(1)


async def signed_in_browser(app: object) -> httpx.AsyncClient:
    """A browser signed in as the bench agent, over the ASGI transport (no sockets: the app's own cost only)."""
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")  # type: ignore[arg-type]
    page = await browser.get("/login")
    response = await browser.post(
        "/login", data={"csrf_token": _csrf(page.text), "username": USERNAME, "password": PASSWORD, "next": "/"}
    )
    if response.status_code != 303:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return browser


@dataclass
class Round:
    """One round's workflows: complaints (received and acknowledged) and bare workflows, all cached and idle."""

    complaints: ComplaintClient
    browser: httpx.AsyncClient
    ids: list[str]
    bare: list[WorkflowHandle[Any, Any]]
    local: list[WorkflowHandle[Any, Any]]
    csrf: str

    async def bare_update(self, i: int) -> None:
        await self.bare[i % WORKFLOWS].execute_update(BareWorkflow.act, i)

    async def local_update(self, i: int) -> None:
        await self.local[i % WORKFLOWS].execute_update(BareWorkflow.act, i)

    async def sdk_note(self, i: int) -> None:
        await self.complaints.act(
            self.ids[i % WORKFLOWS], Action.ADD_NOTE, actor=USERNAME, role=Role.AGENT, data={"text": NOTE}
        )

    async def web_note(self, i: int) -> None:
        form = {"csrf_token": self.csrf, "request_id": uuid.uuid4().hex, "text": NOTE}
        response = await self.browser.post(f"/complaints/{self.ids[i % WORKFLOWS]}/actions/add_note", data=form)
        if response.status_code != 303:
            raise RuntimeError(f"web add_note answered {response.status_code}")

    async def sample(self, samples: int) -> Samples:
        for i in range(WORKFLOWS):  # warm: every workflow cached, every route compiled
            await self.bare_update(i)
            await self.local_update(i)
            await self.sdk_note(i)
            await self.web_note(i)
        current = Samples()
        kinds: list[tuple[Callable[[int], Awaitable[None]], list[float]]] = [
            (self.bare_update, current.bare),
            (self.local_update, current.local),
            (self.sdk_note, current.sdk),
            (self.web_note, current.web),
        ]
        calls = 0
        for i in range(samples):
            for offset in range(len(kinds)):  # rotate which kind goes first
                call, into = kinds[(i + offset) % len(kinds)]
                calls += 1
                started = time.perf_counter()
                await call(calls)
                into.append((time.perf_counter() - started) * 1000)
        return current


async def new_round(complaints: ComplaintClient, browser: httpx.AsyncClient, floor_queue: str) -> Round:
    client = complaints.client
    ids = [bench_id("note") for _ in range(WORKFLOWS)]
    bare = []
    local = []
    for cid in ids:
        await complaints.start(intake(cid))
        await complaints.act(cid, Action.ACKNOWLEDGE, actor=USERNAME, role=Role.AGENT)
        handle = await client.start_workflow(BareWorkflow.run, [], id=bench_id("bare"), task_queue=floor_queue)
        await handle.execute_update(BareWorkflow.registered)
        bare.append(handle)
        handle = await client.start_workflow(
            BareWorkflow.run, args=[[], False, True], id=bench_id("local"), task_queue=floor_queue
        )
        await handle.execute_update(BareWorkflow.registered)
        local.append(handle)
    csrf = _csrf((await browser.get(f"/complaints/{ids[0]}")).text)
    return Round(complaints, browser, ids, bare, local, csrf)


def _summary(samples: Samples) -> str:
    return ", ".join(
        f"{name} {quantile(values, 0.5):.1f}/{quantile(values, 0.99):.1f}"
        for name, values in (
            ("bare", samples.bare),
            ("local", samples.local),
            ("sdk", samples.sdk),
            ("web", samples.web),
        )
    )


async def measure(
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    floor_queue: str,
    data_dir: Path,
    samples: int,
    rounds: int,
) -> list[Samples]:
    """Per round: fresh complaints and bare workflows, then `samples` calls of each kind, interleaved."""
    await add_user(pool, USERNAME, PASSWORD, "agent")
    app = build_web_app(complaints, pool, WebSettings(data_dir=data_dir))
    browser = await signed_in_browser(app)
    results: list[Samples] = []
    try:
        for round_ in range(rounds):
            current = await new_round(complaints, browser, floor_queue)
            results.append(await current.sample(samples))
            print(f"  round {round_ + 1}: p50/p99 ms {_summary(results[-1])}", flush=True)
            for handle in current.bare + current.local:
                await handle.terminate("benchmark round over")
    finally:
        await browser.aclose()
    return results
