"""The fleet drill (issue 12, "Proof without a Docker engine"): the product's services of `docker-compose.yml`, each run
with its exact command and exactly the environment and secret files the compose file gives it, as separate OS
processes on this machine against a Temporal dev server and the embedded PostgreSQL: two workers, two web processes
and the mail ingress (which takes the README's example mail into a complaint). A session begun on one web process
serves on the other; a worker killed with SIGKILL and both restarted one at a time while 100 complaints run their
lifecycle lose nothing and apply nothing twice.

Whether every variable the compose file passes is a setting, and every required setting is passed, is checked
statically by tests/test_compose.py; this drill shows the processes run with what it passes.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
import signal
import smtplib
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import yaml
from fault_support import LIFECYCLE, Workers, every_complaint_recorded_once, handover_waits, retrying
from samples import COMPLAINTS, clean_env, make_intake
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from web_support import PASSWORD, act, csrf_of

from complaints.temporal_server import free_port, temporal_dev_server
from domain.mail_in import complaint_id_for
from domain.models import ComplaintState, Stage
from starter.client import ComplaintClient, workflow_id_for
from starter.codec import KeyRing
from starter.connection import connect_temporal, register_search_attributes

pytestmark = [pytest.mark.faults, pytest.mark.temporal, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
EXAMPLE_MAIL = ROOT / "docs" / "examples" / "complaint.eml"
ENV_EXAMPLE = ROOT / ".env.example"
N_COMPLAINTS = 100
IN_FLIGHT = 50
SECRETS_MOUNT = "/run/secrets/"
WORKER_WAITS = "worker waits for its namespace before polling"
WEB_READY = "web form serving"
AGENT_NAME = "fleet.agent"


# ---- reading the compose file ----

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation of `value` from `variables` (what the operator's `.env` and shell would hold):
    `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`."""

    def replaced(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        set_, empty = name in variables, not variables.get(name)
        if op in (":-", "-") and (not set_ or (op == ":-" and empty)):
            return interpolate(arg, variables)
        if op in (":?", "?") and (not set_ or (op == ":?" and empty)):
            raise AssertionError(f"docker-compose.yml requires {name}: {arg}")
        return variables.get(name, "")

    return _VARIABLE.sub(replaced, value)


def operator_variables() -> dict[str, str]:
    """What compose interpolates from: the operator's `.env` as `cp .env.example .env` makes it (with no such file,
    nothing: the compose file's defaults)."""
    if not ENV_EXAMPLE.exists():
        return {}
    lines = (line.strip() for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@dataclass(frozen=True)
class ComposeService:
    """One product service as the compose file gives it: its command, environment and mounted secrets."""

    name: str
    command: list[str]
    environment: dict[str, str]
    secrets: dict[str, str]
    """Mount path -> the secret's name."""
    replicas: int


def product_services(compose: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, ComposeService]:
    """The services that run the `complaints` command, their values interpolated from `variables`."""
    found: dict[str, ComposeService] = {}
    for name, service in compose["services"].items():
        command = service.get("command")
        if not isinstance(command, list) or command[:1] != ["complaints"]:
            continue
        environment = service.get("environment") or {}
        if isinstance(environment, list):  # the `- KEY=VALUE` form
            environment = dict(item.split("=", 1) for item in environment)
        mounted: dict[str, str] = {}
        for secret in service.get("secrets") or []:
            source, target = (secret, secret) if isinstance(secret, str) else (secret["source"], secret.get("target"))
            target = target or source
            mounted[target if target.startswith("/") else SECRETS_MOUNT + target] = source
        found[name] = ComposeService(
            name=name,
            command=[interpolate(str(arg), variables) for arg in command],
            environment={key: interpolate(str(value), variables) for key, value in environment.items()},
            secrets=mounted,
            replicas=int((service.get("deploy") or {}).get("replicas", 1)),
        )
    return found


@dataclass
class Machine:
    """This machine standing in for the compose network: each compose host name is an address here, each secret
    a file under `secret_dir`, and each container's own listening port a free port of this machine (two replicas
    cannot share one). The records' database is this module's own, on the session's server."""

    hosts: dict[str, str]
    """`temporal:7233` -> `127.0.0.1:40123`"""
    records: str
    """The URL of the records' database here (a server reached by socket has no host name in it): what the
    compose file's DATABASE_URL keeps is its user."""
    secret_dir: Path
    secret_values: dict[str, str]

    def environment(self, service: ComposeService) -> dict[str, str]:
        env: dict[str, str] = {}
        for key, value in service.environment.items():
            for compose_host, here in self.hosts.items():
                value = value.replace(compose_host, here)
            value = re.sub(r"^0\.0\.0\.0:\d+$", lambda _: f"127.0.0.1:{free_port()}", value)
            if value.startswith(SECRETS_MOUNT):
                assert value in service.secrets, f"{service.name}: {key} names {value}, which it does not mount"
                value = str(self.secret_file(service.secrets[value]))
            if key == "DATABASE_URL":
                value = self.records_url(value)
            env[key] = value
        return clean_env(**env)

    def records_url(self, compose_url: str) -> str:
        given, here = urlsplit(compose_url), urlsplit(self.records)
        user = given.username + (f":{given.password}" if given.password else "") if given.username else ""
        host = here.netloc.rpartition("@")[2]
        return urlunsplit(here._replace(netloc=f"{user}@{host}" if user else host))

    def command(self, service: ComposeService) -> list[str]:
        """The service's command with this environment's `complaints` (the image's) and a port of its own."""
        argv = [str(COMPLAINTS), *service.command[1:]]
        for flag, here in (("--host", "127.0.0.1"), ("--port", str(free_port()))):
            if flag in argv:
                argv[argv.index(flag) + 1] = here
        return argv

    def secret_file(self, name: str) -> Path:
        assert name in self.secret_values, f"the drill has no value for the compose secret {name!r}"
        path = self.secret_dir / name
        if not path.exists():
            path.write_text(self.secret_values[name] + "\n")
            path.chmod(0o600)
        return path


def port_of(argv: list[str]) -> int:
    return int(argv[argv.index("--port") + 1])


# ---- the drill ----


async def test_fleet_from_the_compose_file(
    tmp_path: Path, workers: Workers, key_ring: KeyRing, database_url: str, postgres_uri: str
) -> None:
    services = product_services(yaml.safe_load(COMPOSE_FILE.read_text()), operator_variables())
    assert {"worker", "web"} <= services.keys(), f"docker-compose.yml runs {sorted(services)}"
    assert services["worker"].replicas == 2
    database = urlsplit(database_url).path.lstrip("/")
    records_url = urlsplit(services["web"].environment["DATABASE_URL"])
    assert records_url.username and records_url.hostname == "records-db"

    began = time.monotonic()
    async with temporal_dev_server(tmp_path / "temporal", free_port(), free_port()) as address:
        machine = Machine(
            hosts={"temporal:7233": address},
            records=database_url,
            secret_dir=tmp_path / "secrets",
            secret_values={
                "records_db_password": secrets.token_urlsafe(16),
                "encryption_keys": key_ring.to_spec(),
                "session_secret": secrets.token_urlsafe(48),
                "case_link_key": secrets.token_urlsafe(48),
                "codec_token": secrets.token_urlsafe(32),
                "metrics_token": secrets.token_urlsafe(32),
            },
        )
        machine.secret_dir.mkdir()
        await records_role(postgres_uri, database, records_url.username, machine)

        # The workers start before their namespace exists (compose orders them after its job; a restart of the
        # job, or Temporal Cloud, may not): they wait, then serve once the job's work is done.
        worker = services["worker"]
        fleet = [
            await asyncio.to_thread(
                workers.launch, machine.command(worker), machine.environment(worker), WORKER_WAITS, "worker"
            )
            for _ in range(worker.replicas)
        ]
        namespace = machine.environment(worker)["TEMPORAL_NAMESPACE"]
        await namespace_job(address, namespace)
        for proc in fleet:
            await asyncio.to_thread(workers.wait_for, proc, "worker started")

        web = services["web"]
        webs = [machine.command(web) for _ in range(2)]
        for argv in webs:
            await asyncio.to_thread(workers.launch, argv, machine.environment(web), WEB_READY, "web")
        mail_in = services["mail-ingress"]
        mail_in_env = machine.environment(mail_in)  # once: its listen address becomes a free port of this machine
        await asyncio.to_thread(workers.launch, machine.command(mail_in), mail_in_env, "listening on", "mail-ingress")
        add_agent = await asyncio.to_thread(
            subprocess.run,
            [str(COMPLAINTS), "user", "add", AGENT_NAME, "--role", "agent", "--password-stdin"],
            env=machine.environment(web),
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        assert add_agent.returncode == 0, add_agent.stderr

        client = await connect_temporal(address, key_ring=key_ring, namespace=namespace)
        complaints = ComplaintClient(client)
        await one_session_two_web_processes(complaints, *(f"http://127.0.0.1:{port_of(argv)}" for argv in webs))
        await one_mail_through_the_ingress(complaints, mail_in_env["COMPLAINTS_MAIL_INGRESS_ADDRESS"])
        print(f"fleet up in {time.monotonic() - began:.1f}s")

        ids = [f"fleet-{uuid.uuid4().hex[:12]}" for _ in range(N_COMPLAINTS)]
        await lifecycles_through_kill_and_restarts(
            complaints, ids, workers, fleet, lambda: (machine.command(worker), machine.environment(worker))
        )
        print(f"handover waits: {dict(await handover_waits(client, map(workflow_id_for, ids)))}")
        states = [await complaints.state(cid) for cid in ids]
        assert all(s.stage is Stage.CLOSED and s.last_seq == len(LIFECYCLE) + 1 for s in states)
        await every_complaint_recorded_once(states, database_url)
    print(f"fleet drill took {time.monotonic() - began:.1f}s")


async def one_mail_through_the_ingress(complaints: ComplaintClient, address: str) -> None:
    """The README's example mail, sent to the `mail-ingress` service as the company's mail server would."""
    host, _, port = address.rpartition(":")

    def send() -> None:
        with smtplib.SMTP(host, int(port), timeout=60) as smtp:
            smtp.sendmail("an.nguyen@example.vn", ["cskh@localhost"], EXAMPLE_MAIL.read_bytes())

    await asyncio.to_thread(send)
    state = await complaints.state(complaint_id_for("<vps-mat-ket-noi-20261203@example.vn>"))
    assert state.intake.channel == "email" and state.intake.customer.name == "Nguyễn Văn An"


async def records_role(postgres_uri: str, database: str, user: str, machine: Machine) -> None:
    """What the records' PostgreSQL container sets up from the compose file: its user, with the password of the
    shared secret file, owning the records' database."""
    password = machine.secret_values["records_db_password"]
    admin = await asyncpg.connect(postgres_uri)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
        verb = "ALTER" if exists else "CREATE"
        await admin.execute(f"{verb} ROLE \"{user}\" LOGIN PASSWORD '{password}'")
        await admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{user}"')
    finally:
        await admin.close()


async def namespace_job(address: str, namespace: str) -> None:
    """The compose file's `temporal-namespace` job: the namespace with its retention, and the search attributes."""
    admin = await Client.connect(address, namespace=namespace)
    await admin.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period={"seconds": 30 * 86400})
    )
    # a new namespace reaches the frontend's cache within seconds: until then it is "not found"
    await retrying("register the search attributes", lambda: register_search_attributes(admin), within=30)


async def one_session_two_web_processes(complaints: ComplaintClient, first: str, second: str) -> None:
    """The sign-in form from one web process, the sign-in on the other (the CSRF cookie is signed with the one
    shared session secret), then the session row serves both: an action through the first, a page on the second."""
    cid = uuid.uuid4().hex
    await retrying(f"start {cid}", lambda: complaints.start(make_intake(complaint_id=cid)))
    async with httpx.AsyncClient(base_url=first) as one, httpx.AsyncClient(base_url=second) as other:
        assert (await other.get("/")).status_code in (303, 307), "not signed in yet"
        form = await one.get("/login")
        other.cookies = one.cookies
        signed = await other.post(
            "/login",
            data={"csrf_token": csrf_of(form.text), "username": AGENT_NAME, "password": PASSWORD, "next": "/"},
        )
        assert signed.status_code == 303, signed.text
        one.cookies = other.cookies
        acted = await act(one, cid, "acknowledge")
        assert acted.status_code == 303, acted.text
        page = await other.get(f"/complaints/{cid}")
        assert page.status_code == 200
    assert (await complaints.state(cid)).stage is Stage.ANALYSING


async def lifecycles_through_kill_and_restarts(
    complaints: ComplaintClient,
    ids: list[str],
    workers: Workers,
    fleet: list[subprocess.Popen[str]],
    worker_process: Callable[[], tuple[list[str], dict[str, str]]],
) -> None:
    """Every complaint from intake to close, 50 at a time. An eighth through, one worker is killed (SIGKILL) and
    the other carries on alone; three eighths through, the workers are restarted one at a time (the dead one
    started again, then the other stopped with SIGTERM and started again), as a rolling update does. The closes
    wait for the restarts, so actions flow through them however fast this machine is."""
    total = len(ids) * len(LIFECYCLE)
    done = 0
    kill_now, roll_now, rolled = asyncio.Event(), asyncio.Event(), asyncio.Event()
    gate = asyncio.Semaphore(IN_FLIGHT)
    marks: dict[str, int] = {}

    async def step(cid: str, index: int) -> ComplaintState:
        nonlocal done
        action, (role, actor), data = LIFECYCLE[index]
        call = functools.partial(
            complaints.act, cid, action, actor=actor, role=role, data=data, request_id=f"{cid}-{index}"
        )
        state = await retrying(f"{action.value} on {cid}", call)
        done += 1
        if done >= total // 8:
            kill_now.set()
        if done >= total * 3 // 8:
            roll_now.set()
        return state

    async def drive(cid: str) -> ComplaintState:
        async with gate:
            await retrying(f"start {cid}", lambda: complaints.start(make_intake(complaint_id=cid)))
            for index in range(len(LIFECYCLE) - 1):
                await step(cid, index)
        await rolled.wait()
        async with gate:
            return await step(cid, len(LIFECYCLE) - 1)

    async def kill_then_roll() -> None:
        await kill_now.wait()
        marks["killed"] = done
        assert await asyncio.to_thread(workers.stop, fleet[0], signal.SIGKILL) == -signal.SIGKILL
        await roll_now.wait()
        marks["rolling"] = done
        await asyncio.to_thread(workers.launch, *worker_process())  # the killed one, back
        assert await asyncio.to_thread(workers.stop, fleet[1], signal.SIGTERM) == 0
        await asyncio.to_thread(workers.launch, *worker_process())
        marks["rolled"] = done
        rolled.set()

    started = time.monotonic()
    results = await asyncio.gather(kill_then_roll(), *(drive(cid) for cid in ids))
    print(
        f"{len(ids)} lifecycles, {total} actions in {time.monotonic() - started:.1f}s; worker killed after"
        f" {marks['killed']}, rolling restart from {marks['rolling']} to {marks['rolled']} actions"
    )
    assert marks["rolled"] > marks["rolling"], "no action was applied while the workers restarted"
    finals: list[ComplaintState] = list(results[1:])
    assert all(s.stage is Stage.CLOSED and s.last_seq == len(LIFECYCLE) + 1 for s in finals)
