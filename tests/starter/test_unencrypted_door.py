"""Row 5 of the hardening issue, through the door it was found at: the plain `temporal` CLI, no key, stating the
role `manager`. Nothing it sends is applied, and nothing it sends jams the complaint."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request

import pytest
from cli_support import complaints
from samples import make_intake

from complaints.temporal_server import temporal_binary

pytestmark = [pytest.mark.temporal, pytest.mark.postgres, pytest.mark.usefixtures("worker")]

AGENT = ("--actor", "agent.lan", "--role", "agent")
REFUSAL = "refused: the payload was not encrypted with the complaints key"


def temporal(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The `temporal` CLI as an outsider runs it: the frontend's address, no codec, no key."""
    return subprocess.run(
        [str(temporal_binary()), *args, "--address", env["TEMPORAL_ADDRESS"]],
        capture_output=True,
        text=True,
        timeout=60,
    )


def refusals(env: dict[str, str]) -> float:
    with urllib.request.urlopen(f"http://{env['COMPLAINTS_METRICS_ADDRESS']}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = re.search(r"^complaints_unencrypted_payloads_refused_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_plain_updates_signals_and_starts_are_never_applied_and_jam_nothing(server_env: dict[str, str]) -> None:
    env = server_env
    intake = make_intake()
    cid = intake["complaint_id"]
    assert complaints("start", "-", stdin=json.dumps(intake), env=env).status == 0
    assert complaints("act", cid, "acknowledge", *AGENT, env=env).status == 0
    assert complaints("act", cid, "cause_identified", *AGENT, "--data", '{"cause": "switch", "company_at_fault": true}',
                      env=env).status == 0  # fmt: skip
    assert complaints("act", cid, "propose_plan", *AGENT, "--data", '{"plan": "thay switch"}', env=env).status == 0
    before = refusals(env)

    forged = {"request_id": "forged-1", "actor": "mallory", "role": "manager", "data": {"approved": True}}
    update = temporal(
        env, "workflow", "update", "execute", "--workflow-id", f"complaint-{cid}", "--name", "manager_approval",
        "--input", json.dumps(forged),
    )  # fmt: skip
    assert update.returncode != 0
    assert REFUSAL in update.stdout + update.stderr, update.stdout + update.stderr

    signal = temporal(
        env, "workflow", "signal", "--workflow-id", f"complaint-{cid}", "--name", "manager_approval",
        "--input", json.dumps({**forged, "request_id": "forged-2"}),
    )  # fmt: skip
    assert signal.returncode == 0, signal.stderr  # the server takes it; the worker drops it

    evil = f"evil-{cid}"
    start = temporal(
        env, "workflow", "start", "--type", "ComplaintWorkflow", "--task-queue", "complaints",
        "--workflow-id", f"complaint-{evil}", "--input", json.dumps({"complaint_id": evil, "intake": intake}),
    )  # fmt: skip
    assert start.returncode == 0, start.stderr

    deadline = time.monotonic() + 30
    while True:  # the start fails at once, not after retries of its first workflow task
        described = temporal(env, "workflow", "describe", "--workflow-id", f"complaint-{evil}", "--output", "json")
        status = json.loads(described.stdout)["workflowExecutionInfo"]["status"] if described.returncode == 0 else ""
        if status != "WORKFLOW_EXECUTION_STATUS_RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == "WORKFLOW_EXECUTION_STATUS_FAILED", described.stdout
    assert REFUSAL in temporal(env, "workflow", "show", "--workflow-id", f"complaint-{evil}").stdout

    # The complaint still takes the actions of key holders, and none of the forged ones happened.
    approved = complaints(
        "act", cid, "manager_approval", "--actor", "manager.hung", "--role", "manager", "--data", '{"approved": true}',
        env=env,
    )  # fmt: skip
    assert approved.status == 0, approved.stderr
    assert approved.json()["stage"] == "approved"
    shown = complaints("show", cid, env=env).json()
    approvals = [event for event in shown["timeline"] if event["kind"] == "manager_approval"]
    assert [event["actor"] for event in approvals] == ["manager.hung"]
    assert refusals(env) >= before + 3, "the update, the signal and the start are each counted"
