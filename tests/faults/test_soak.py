"""Soak (issue 5, "Faults" 5): a thousand complaints through full lifecycles with random actions, valid and not,
while the worker is restarted again and again (SIGKILL and SIGTERM); at the end Postgres holds exactly what the
pure model (`domain.lifecycle`) predicts, complaint by complaint and in total, and every workflow agrees with it.

Reproducible: every complaint's actions come from the seed (printed; `COMPLAINTS_SOAK_SEED=<n>` replays it) and
the model alone, so the plan does not depend on how calls interleave. Only the moments of the restarts (counted
in finished calls) fall on different calls from run to run. `pytest -m soak` runs it alone.

Clocks: each complaint is received now, so its first timer (the first-response reminder) is 20 hours away and no
clock event fires during the soak: the model needs no clock to predict the record.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from fault_support import Workers, retrying
from samples import make_intake

from activities.database import create_pool
from complaints.temporal_server import free_port, temporal_dev_server
from domain.actions import Action, ActionRequest, Role
from domain.calendar import WorkingCalendar
from domain.deadlines import compute_deadlines
from domain.intake import Intake
from domain.lifecycle import RULES, ActionRejected, apply_action, is_repeat, start_state
from domain.models import ComplaintState, CycleClocks, Stage, TimelineEvent, Transition
from starter.client import ActionFailed, ComplaintClient
from starter.codec import KeyRing
from starter.connection import connect_temporal

pytestmark = [pytest.mark.faults, pytest.mark.temporal, pytest.mark.postgres, pytest.mark.soak]

N_COMPLAINTS = 1000
IN_FLIGHT = 80
"""Complaints driven at once: each waits on its own calls, so many in flight keep the worker busy."""
ACTIONS_PER_COMPLAINT = (8, 12)
RESTARTS = 6
"""Worker restarts during the run, at random points; each one's signal is drawn too (at least one of each)."""
SEED = int(os.environ.get("COMPLAINTS_SOAK_SEED") or 20260505)

ACTORS = {Role.AGENT: "agent.lan", Role.MANAGER: "manager.hung", Role.SYSTEM: "noc"}
DEPARTMENTS = ["network", "billing", "technical"]
MODEL_CLOCKS = CycleClocks(deadlines=compute_deadlines(datetime.now(UTC), WorkingCalendar()), working_days=[])
"""What the model needs for a reopen: the outcome of an action never depends on the instants."""


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    REPEAT = "repeat"
    """A request id already applied: answered, nothing changes."""


@dataclass
class Step:
    action: Action
    request: ActionRequest
    outcome: Outcome
    transition: Transition | None = None


@dataclass
class Plan:
    """One complaint's intake, its actions with the model's verdicts, and the record the model predicts."""

    complaint_id: str
    intake: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    """The receipt's and every accepted action's, in order: the timeline, the outbox and the documents."""
    final: ComplaintState | None = None

    def events(self) -> list[tuple[Any, ...]]:
        return [event_outline(t.event) for t in self.transitions]

    def outbox(self) -> Counter[tuple[Any, ...]]:
        return Counter(
            (t.event.seq, n.recipient.value, n.department, n.template)
            for t in self.transitions
            for n in t.notifications
        )

    def documents(self) -> set[tuple[Any, ...]]:
        """One of each kind per cycle, the first one filed (a second is refused by the record, as it should)."""
        first: dict[tuple[str, int], int] = {}
        for t in self.transitions:
            for kind in t.documents:
                first.setdefault((kind.value, t.event.cycle), t.event.seq)
        return {(kind, cycle, seq) for (kind, cycle), seq in first.items()}


def event_outline(event: TimelineEvent) -> tuple[Any, ...]:
    """What the record and the model must agree on; the instants are the server's."""
    return (event.seq, event.kind, event.actor, event.role, event.door, event.cycle)


def outline(state: ComplaintState) -> tuple[Any, ...]:
    """What the workflow's state and the model's must agree on; instants differ between their clocks."""
    return (
        state.stage,
        state.department,
        state.cycle,
        state.last_seq,
        [event_outline(e) for e in state.timeline],
        state.cause,
        state.plan,
        state.approval.approved if state.approval else None,
        state.resolution,
        state.lessons_learned,
        state.first_responded_at is not None,
        state.applied_requests,
    )


# ---- the plan: random actions chosen against the model, each with the model's verdict ----

STEPS_TO_CLOSE = {
    Stage.RECEIVED: 6,
    Stage.ANALYSING: 5,
    Stage.CAUSE_IDENTIFIED: 4,
    Stage.AWAITING_APPROVAL: 3,
    Stage.APPROVED: 2,
    Stage.ANSWERED: 1,
    Stage.CLOSED: 0,
    Stage.WITHDRAWN: 0,
}


def steps_to_close(state: ComplaintState) -> int:
    """Actions still needed to close along `forward`: what a complaint's remaining budget must cover."""
    if state.stage is Stage.AWAITING_CUSTOMER:
        return 1 + STEPS_TO_CLOSE[Stage.CAUSE_IDENTIFIED if state.cause else Stage.ANALYSING]
    return STEPS_TO_CLOSE[state.stage]


def good_data(rng: random.Random, action: Action, state: ComplaintState) -> dict[str, Any]:
    """Data the action's model accepts (a transfer still goes elsewhere than where the complaint is)."""
    match action:
        case Action.ACKNOWLEDGE:
            return rng.choice([{}, {"message": "Chúng tôi đã nhận khiếu nại"}])
        case Action.REQUEST_INFO:
            return {"missing": rng.sample(["documents", "logs", "phone"], rng.randint(1, 2)), "message": "xin bổ sung"}
        case Action.CUSTOMER_INFO_RECEIVED:
            return {"summary": "khách đã gửi"}
        case Action.CUSTOMER_WROTE:
            return {"text": "khách hỏi tiến độ"}
        case Action.TRANSFER:
            return {"to_department": rng.choice([d for d in DEPARTMENTS if d != state.department]), "reason": "r"}
        case Action.RESOLVE_ON_FIRST_CONTACT:
            return {"resolution": "đã xử lý ngay", "customer_agreed": True}
        case Action.CAUSE_IDENTIFIED:
            return {
                "cause": "lỗi cấu hình",
                "company_at_fault": rng.random() < 0.5,
                "departments": rng.sample(DEPARTMENTS, rng.randint(0, 2)),
            }
        case Action.PROPOSE_PLAN:
            return {"plan": "sửa cấu hình, giảm phí"}
        case Action.MANAGER_APPROVAL:
            return {"approved": True, "comment": "đồng ý"}
        case Action.SEND_RESOLUTION:
            return {"reply": "Đã xử lý.", "channels": rng.sample(["email", "letter", "direct"], rng.randint(1, 2))}
        case Action.REPORT_FOLLOWUP:
            return {"fault": "lỗi lặp lại"}
        case Action.CLOSE:
            return {"summary": "xong", "lessons_learned": "giám sát cấu hình"}
        case Action.REOPEN:
            return {"reason": "khách chưa đồng ý"}
        case Action.MERGE_INTO:
            return {"primary_complaint_id": state.complaint_id}  # into itself: always refused, never a real merge
        case Action.WITHDRAW:
            return {"reason": "khách rút"}
        case Action.ADD_NOTE:
            return {"text": "đã gọi lại cho khách"}
    raise AssertionError(action)


def bad_data(rng: random.Random, action: Action, state: ComplaintState) -> dict[str, Any]:
    """Data the lifecycle refuses: an unknown field, a missing one, or a rule of the action's own."""
    variants: list[dict[str, Any]] = [{**good_data(rng, action, state), "unexpected": 1}]
    match action:
        case Action.CLOSE:
            variants.append({"summary": "xong"})  # lessons learned are required
        case Action.MANAGER_APPROVAL:
            variants.append({"approved": False})  # a rejection must say why
        case Action.REQUEST_INFO:
            variants.append({"missing": [], "message": "m"})
        case Action.TRANSFER:
            variants.append({"to_department": state.department, "reason": "r"})
        case Action.RESOLVE_ON_FIRST_CONTACT:
            variants.append({"resolution": "r", "customer_agreed": False})
        case Action.CAUSE_IDENTIFIED:
            variants.append({"cause": "c"})
    return rng.choice(variants)


def forward(state: ComplaintState) -> tuple[Action, Role]:
    """The next action of the shortest way to a close."""
    return {
        Stage.RECEIVED: (Action.ACKNOWLEDGE, Role.AGENT),
        Stage.ANALYSING: (Action.CAUSE_IDENTIFIED, Role.SYSTEM),
        Stage.AWAITING_CUSTOMER: (Action.CUSTOMER_INFO_RECEIVED, Role.SYSTEM),
        Stage.CAUSE_IDENTIFIED: (Action.PROPOSE_PLAN, Role.AGENT),
        Stage.AWAITING_APPROVAL: (Action.MANAGER_APPROVAL, Role.MANAGER),
        Stage.APPROVED: (Action.SEND_RESOLUTION, Role.AGENT),
        Stage.ANSWERED: (Action.CLOSE, Role.AGENT),
        Stage.CLOSED: (Action.ADD_NOTE, Role.AGENT),
    }[state.stage]


def predict(state: ComplaintState, action: Action, request: ActionRequest) -> tuple[Outcome, Transition | None]:
    """The model's verdict, as the workflow reaches it: a known request id first, then the lifecycle's rules."""
    if is_repeat(state, request):
        return Outcome.REPEAT, None
    try:
        return Outcome.ACCEPTED, apply_action(state, action, request, datetime.now(UTC), MODEL_CLOCKS)
    except ActionRejected:
        return Outcome.REFUSED, None


KINDS = {"forward": 45, "other": 15, "wrong_role": 10, "wrong_stage": 10, "bad_data": 14, "repeat": 6}
"""How often each kind of step is drawn while the budget leaves room; the model decides each one's verdict."""


def choose(rng: random.Random, kind: str, state: ComplaintState) -> tuple[Action, Role, dict[str, Any]]:
    """One action of the kind drawn: forward, another allowed one, or one refused for its role, stage or data."""
    if kind == "other":
        options = [
            (a, r)
            for a, rule in RULES.items()
            if state.stage in rule.stages and a is not Action.MERGE_INTO
            for r in sorted(rule.roles)
        ]
        action, role = rng.choice(options)
        if action is not Action.WITHDRAW or rng.random() < 0.25:  # a withdrawal ends the complaint: keep it rare
            return action, role, good_data(rng, action, state)
    if kind == "wrong_role":
        limited = [a for a, rule in RULES.items() if state.stage in rule.stages and rule.roles != set(Role)]
        if limited:
            action = rng.choice(limited)
            return action, rng.choice([r for r in Role if r not in RULES[action].roles]), good_data(rng, action, state)
    if kind == "wrong_stage":
        action = rng.choice([a for a, rule in RULES.items() if state.stage not in rule.stages])
        return action, sorted(RULES[action].roles)[0], good_data(rng, action, state)
    action, role = forward(state)
    return action, role, bad_data(rng, action, state) if kind == "bad_data" else good_data(rng, action, state)


def plan_complaint(seed: int, index: int) -> Plan:
    """A complaint's actions and the model's verdict on each, from the seed alone.

    Each complaint gets 8 to 12 actions; whenever the rest of its budget is just enough to close it, the next
    action is forward, so every complaint ends closed (or withdrawn)."""
    rng = random.Random(f"{seed}-{index}")
    cid = f"soak-{seed}-{index:04d}"
    plan = Plan(complaint_id=cid, intake=make_intake(complaint_id=cid, department=rng.choice(DEPARTMENTS)))
    now = datetime.now(UTC)
    receipt = start_state(cid, "KN-MODEL", Intake.model_validate(plan.intake), MODEL_CLOCKS, now)
    plan.transitions.append(receipt)
    state = receipt.state
    budget = rng.randint(*ACTIONS_PER_COMPLAINT)
    accepted: list[Step] = []
    for number in range(budget):
        if state.stage is Stage.WITHDRAWN:
            break
        left_after = budget - number - 1
        kind = "forward" if left_after < steps_to_close(state) else rng.choices(list(KINDS), list(KINDS.values()))[0]
        if kind == "repeat" and accepted:  # a double submit: the same request id again
            earlier = rng.choice(accepted)
            action, request = earlier.action, earlier.request
        else:
            action, role, data = choose(rng, kind, state)
            request = ActionRequest(request_id=f"{cid}.{number}", actor=ACTORS[role], role=role, data=data)
        outcome, transition = predict(state, action, request)
        if transition is not None and steps_to_close(transition.state) > left_after:
            action, role = forward(state)  # it would leave too few actions to close: forward instead
            data = good_data(rng, action, state)
            request = ActionRequest(request_id=f"{cid}.{number}", actor=ACTORS[role], role=role, data=data)
            outcome, transition = predict(state, action, request)
        step = Step(action, request, outcome, transition)
        plan.steps.append(step)
        if transition is not None:
            plan.transitions.append(transition)
            accepted.append(step)
            state = transition.state
    plan.final = state
    return plan


# ---- the run ----


@dataclass
class Run:
    plans: list[Plan]
    done: int = 0
    mismatches: list[str] = field(default_factory=list)
    case_numbers: dict[str, str] = field(default_factory=dict)
    restarts: list[tuple[str, int, float]] = field(default_factory=list)
    """(signal, calls done before, seconds until the next worker polled)."""
    progressed: asyncio.Event = field(default_factory=asyncio.Event)

    def answered(self) -> None:
        self.done += 1
        self.progressed.set()

    @property
    def total_calls(self) -> int:
        return sum(len(p.steps) + 1 for p in self.plans)


async def drive(complaints: ComplaintClient, plan: Plan, run: Run) -> None:
    """Start the complaint and send its actions in order, each retried (same request id) across restarts."""
    started = await retrying(f"start {plan.complaint_id}", lambda: complaints.start(plan.intake))
    run.case_numbers[plan.complaint_id] = started.case_number
    run.answered()
    for number, step in enumerate(plan.steps):
        what = f"{plan.complaint_id} step {number} ({step.action.value}, {step.request.role.value})"
        req = step.request
        call = functools.partial(
            complaints.act, plan.complaint_id, step.action, actor=req.actor, role=req.role, data=req.data,
            request_id=req.request_id,
        )  # fmt: skip
        try:
            state = await retrying(what, call)
        except ActionFailed as exc:
            if step.outcome is not Outcome.REFUSED:
                run.mismatches.append(f"{what}: refused ({exc.reason}), the model says {step.outcome.value}")
        else:
            if step.outcome is Outcome.REFUSED:
                run.mismatches.append(f"{what}: accepted, the model refuses it")
            elif step.transition is not None:
                expected = step.transition.state
                if (state.stage, state.last_seq, state.cycle) != (expected.stage, expected.last_seq, expected.cycle):
                    run.mismatches.append(f"{what}: answered {state.stage} #{state.last_seq}, model {expected.stage}")
        run.answered()


async def restart_workers(
    workers: Workers, address: str, current: subprocess.Popen[str], run: Run, rng: random.Random
) -> None:
    """Restart the worker at random points of the run, with SIGKILL (a crash) or SIGTERM (a service stop)."""
    kinds = [signal.SIGKILL, signal.SIGTERM]
    signals = kinds + [rng.choice(kinds) for _ in range(RESTARTS - 2)]
    rng.shuffle(signals)
    points = sorted(rng.sample(range(run.total_calls // 20, run.total_calls * 9 // 10), RESTARTS))
    for sig, point in zip(signals, points, strict=True):
        while run.done < point:
            run.progressed.clear()
            await run.progressed.wait()
        began, done = time.monotonic(), run.done
        status = await asyncio.to_thread(workers.stop, current, sig)
        assert status == (-signal.SIGKILL if sig is signal.SIGKILL else 0), f"worker exited with {status} on {sig.name}"
        current = await asyncio.to_thread(workers.start, address)
        run.restarts.append((sig.name, done, time.monotonic() - began))


async def test_soak(tmp_path: Path, workers: Workers, key_ring: KeyRing, database_url: str) -> None:
    """Every call gets the model's verdict while workers die and return; then no complaint is lost or doubled,
    and each one's timeline, outbox, documents, snapshot and workflow state are what the model predicts."""
    print(f"\nsoak seed {SEED} (COMPLAINTS_SOAK_SEED={SEED} replays it)")
    run = Run([plan_complaint(SEED, i) for i in range(N_COMPLAINTS)])
    steps = [s for p in run.plans for s in p.steps]
    verdicts = Counter(s.outcome.value for s in steps)
    assert all(p.final is not None and p.final.stage in (Stage.CLOSED, Stage.WITHDRAWN) for p in run.plans)
    assert verdicts[Outcome.REFUSED] > len(steps) // 10 and verdicts[Outcome.REPEAT] > 0, verdicts

    async with temporal_dev_server(tmp_path / "temporal", free_port(), free_port()) as address:
        complaints = ComplaintClient(await connect_temporal(address, key_ring=key_ring))
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def gated(plan: Plan) -> None:
            async with gate:
                await drive(complaints, plan, run)

        first = workers.start(address)
        began = time.monotonic()
        restarter = asyncio.create_task(restart_workers(workers, address, first, run, random.Random(SEED)))
        await asyncio.gather(*(gated(p) for p in run.plans))
        await restarter
        took = time.monotonic() - began
        print(
            f"{N_COMPLAINTS} complaints, {len(steps)} actions ({dict(verdicts)}) in {took:.0f}s"
            f" ({took / N_COMPLAINTS * 100:.1f}s per 100); restarts (signal, after calls, until polling):"
            f" {[(s, d, round(t, 1)) for s, d, t in run.restarts]}"
        )
        assert not run.mismatches, f"{len(run.mismatches)} verdicts differ from the model:\n" + "\n".join(
            run.mismatches[:20]
        )
        assert len(run.restarts) == RESTARTS

        states = await workflow_states(complaints, [p.complaint_id for p in run.plans])
    await check_record(database_url, run, states)


async def workflow_states(complaints: ComplaintClient, ids: Iterable[str]) -> dict[str, ComplaintState]:
    """Every complaint's state as its workflow holds it (a query: ended runs are replayed to answer)."""
    gate = asyncio.Semaphore(20)

    async def one(cid: str) -> tuple[str, ComplaintState]:
        async with gate:
            return cid, await retrying(f"state of {cid}", lambda: complaints.state(cid))

    return dict(await asyncio.gather(*(one(cid) for cid in ids)))


async def check_record(database_url: str, run: Run, states: dict[str, ComplaintState]) -> None:
    """Postgres holds what the model predicts, complaint by complaint and in total; each snapshot is its workflow's."""
    ids = [p.complaint_id for p in run.plans]
    pool = await create_pool(database_url, max_size=1)
    try:
        conn = await pool.acquire()
        snapshots = {r["complaint_id"]: r for r in await conn.fetch("SELECT * FROM complaints")}
        events: dict[str, list[tuple[Any, ...]]] = {cid: [] for cid in ids}
        for r in await conn.fetch(
            "SELECT complaint_id, seq, kind, actor, role, door, cycle FROM complaint_events ORDER BY complaint_id, seq"
        ):
            events.setdefault(r["complaint_id"], []).append(tuple(r.values())[1:])
        outbox: dict[str, Counter[tuple[Any, ...]]] = {cid: Counter() for cid in ids}
        for r in await conn.fetch("SELECT complaint_id, event_seq, recipient, department, template FROM outbox"):
            outbox.setdefault(r["complaint_id"], Counter())[tuple(r.values())[1:]] += 1
        documents: dict[str, set[tuple[Any, ...]]] = {cid: set() for cid in ids}
        for r in await conn.fetch("SELECT complaint_id, kind, cycle, event_seq FROM documents"):
            documents.setdefault(r["complaint_id"], set()).add(tuple(r.values())[1:])
        totals = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM complaints) AS complaints,"
            " (SELECT count(DISTINCT case_number) FROM complaints) AS case_numbers,"
            " (SELECT count(*) FROM complaint_events) AS events,"
            " (SELECT count(*) FROM outbox) AS outbox,"
            " (SELECT count(DISTINCT (complaint_id, event_seq, recipient, department, template)) FROM outbox)"
            " AS distinct_outbox"
        )
        await pool.release(conn)
    finally:
        await pool.close()

    problems: list[str] = []
    for plan in run.plans:
        cid, final = plan.complaint_id, plan.final
        assert final is not None
        state, row = states[cid], snapshots.get(cid)
        if row is None:
            problems.append(f"{cid}: started (case {run.case_numbers.get(cid)}) but not in Postgres")
            continue
        if row["case_number"] != run.case_numbers[cid] or state.case_number != run.case_numbers[cid]:
            problems.append(f"{cid}: case number {row['case_number']} in Postgres, {run.case_numbers[cid]} at start")
        if outline(state) != outline(final):
            problems.append(f"{cid}: workflow {outline(state)}\n  model {outline(final)}")
        accepted = [s.request.request_id for s in plan.steps if s.outcome is Outcome.ACCEPTED]
        if state.applied_requests != accepted or len(set(state.applied_requests)) != len(accepted):
            problems.append(f"{cid}: request ids applied {state.applied_requests}, model {accepted}")
        if ComplaintState.model_validate(row["state"]) != state.without_history():
            problems.append(f"{cid}: the snapshot differs from the workflow's state")
        if (row["stage"], row["last_seq"]) != (state.stage.value, state.last_seq):
            problems.append(
                f"{cid}: snapshot {row['stage']} #{row['last_seq']}, workflow {state.stage} #{state.last_seq}"
            )
        if events[cid] != plan.events():
            problems.append(f"{cid}: events {events[cid]}\n  model {plan.events()}")
        if outbox[cid] != plan.outbox():
            problems.append(f"{cid}: outbox {sorted(outbox[cid].items())}\n  model {sorted(plan.outbox().items())}")
        if documents[cid] != plan.documents():
            problems.append(f"{cid}: documents {sorted(documents[cid])}, model {sorted(plan.documents())}")
    assert not problems, f"{len(problems)} differences from the model:\n" + "\n".join(problems[:20])

    assert totals is not None
    expected = {
        "complaints": N_COMPLAINTS,
        "case_numbers": N_COMPLAINTS,
        "events": sum(len(p.transitions) for p in run.plans),
        "outbox": sum(p.outbox().total() for p in run.plans),
        "distinct_outbox": sum(p.outbox().total() for p in run.plans),
    }
    assert dict(totals) == expected
    applied = sum(len(s.applied_requests) for s in states.values())
    distinct = len({r for s in states.values() for r in s.applied_requests})
    accepted_total = sum(1 for p in run.plans for s in p.steps if s.outcome is Outcome.ACCEPTED)
    assert applied == distinct == accepted_total == expected["events"] - N_COMPLAINTS
    print(f"record as predicted: {expected}")
