"""`complaints dev`: everything starts from one command, serves the UI, stops on Ctrl-C and keeps its data."""

from __future__ import annotations

import json
import re
import smtplib
import sqlite3
import stat
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from cli_support import complaints
from dev_process import DevProcess, kill_leftovers, processes_using
from samples import clean_env, make_intake

from complaints.data_dir import STACK_FILE
from complaints.temporal_server import free_port
from domain.mail_in import complaint_id_for
from starter.codec import DEV_KEY_FILE

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

EXAMPLE_MAIL = Path(__file__).resolve().parent.parent.parent / "docs" / "examples" / "complaint.eml"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    kill_leftovers(path)


def test_dev_starts_serves_stops_and_keeps_the_data(data_dir: Path) -> None:
    temporal_port, ui_port, metrics_port, web_port = free_port(), free_port(), free_port(), free_port()
    dev = DevProcess(data_dir, temporal_port, ui_port, metrics_port, web_port)
    try:
        addresses = dev.addresses()
        assert addresses["web"] == f"http://localhost:{web_port}"
        with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=10) as browser:
            login = browser.get("/login")
            assert login.status_code == 200
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token, login.text[:500]
            signed_in = browser.post(
                "/login",
                data={"username": "agent", "password": "complaints-dev", "csrf_token": token.group(1)},
            )
            assert signed_in.status_code in (200, 303), signed_in.text[:500]
            assert browser.get("/").status_code == 200
        assert addresses["temporal_ui"] == f"http://localhost:{ui_port}"
        assert addresses["temporal_address"] == f"127.0.0.1:{temporal_port}"
        assert addresses["database_url"].startswith("postgresql://")
        assert str(data_dir / "postgres") in addresses["database_url"]
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10) as page:
            assert page.status == 200

        # its own encryption key, made on first start, readable by its owner only, named for the other commands
        key_file = data_dir / DEV_KEY_FILE
        assert addresses["key_file"] == str(key_file)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        first_key = key_file.read_text()
        assert addresses["metrics"] == f"http://127.0.0.1:{metrics_port}/metrics"

        # row 9 of the hardening issue: the data directory and everything in it are readable by the owner only
        # (a directory may keep its search bit: root's PostgreSQL runs as its own user and passes through)
        readable_by_others = [
            f"{path}: {oct(stat.S_IMODE(path.lstat().st_mode))}"
            for path in (data_dir, *data_dir.rglob("*"))
            if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & 0o066
        ]
        assert readable_by_others == []
        assert len(list(data_dir.rglob("*"))) > 10, "the check saw the databases and logs"

        stack = json.loads((data_dir / STACK_FILE).read_text())
        assert stack["pid"] == dev.proc.pid
        assert stack["mail_ingress"] == addresses["mail_ingress"]  # host:port, where customers' mail comes in
        assert re.fullmatch(r"127\.0\.0\.1:[0-9]+", addresses["mail_ingress"])
        running = processes_using(data_dir)
        assert any("temporal" in line and "start-dev" in line for line in running), running
        assert any("postgres -D" in line for line in running), running

        # The other commands find the stack from the data directory alone: no TEMPORAL_ADDRESS, no DATABASE_URL.
        env = clean_env(COMPLAINTS_DATA_DIR=str(data_dir))
        intake = make_intake()
        started = complaints("start", "-", stdin=json.dumps(intake), env=env)
        assert started.status == 0, started.stderr + "".join(dev.stderr)
        case_number = started.json()["case_number"]
        assert (
            complaints(
                "act", intake["complaint_id"], "acknowledge", "--actor", "lan", "--role", "agent", env=env
            ).status
            == 0
        )
        listed = complaints("list", "--stage", "analysing", env=env)
        assert [row["case_number"] for row in listed.json()] == [case_number], listed.stderr
        with urllib.request.urlopen(addresses["metrics"], timeout=10) as page:
            metrics = page.read().decode()
        assert 'complaints_actions_total{action="acknowledge",door="cli"' in metrics
        assert "temporal_workflow_task_execution_latency_seconds" in metrics

        second = complaints(
            "dev",
            "--data-dir",
            str(data_dir),
            "--temporal-port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
            env=clean_env(),
        )
        assert second.status == 3 and "already running" in second.stderr
    finally:
        assert dev.interrupt() == 0, "".join(dev.stderr)

    assert processes_using(data_dir) == []
    assert not (data_dir / STACK_FILE).exists()
    assert "complaints dev stopped" in "".join(dev.stderr)
    assert (data_dir / "temporal.db").is_file() and (data_dir / "postgres" / "PG_VERSION").is_file()
    with closing(sqlite3.connect(f"file:{data_dir / 'temporal.db'}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "the dev server's file is in WAL mode"

    again = DevProcess(data_dir, temporal_port, ui_port, metrics_port)
    try:
        seen = again.addresses()
        assert key_file.read_text() == first_key  # the complaints in flight are under this key
        env = clean_env(COMPLAINTS_DATA_DIR=str(data_dir))
        shown = complaints("show", intake["complaint_id"], env=env)
        assert shown.status == 0, shown.stderr
        assert (shown.json()["case_number"], shown.json()["stage"]) == (case_number, "analysing")
        assert [row["case_number"] for row in complaints("list", env=env).json()] == [case_number]
        noted = complaints(
            "act",
            intake["complaint_id"],
            "add_note",
            "--actor",
            "lan",
            "--role",
            "agent",
            "--data",
            '{"text": "sau khi khởi động lại"}',
            env=env,
        )
        assert noted.status == 0, noted.stderr

        # the README's walkthrough: one mail to the ingress becomes a complaint by mail
        host, _, port = seen["mail_ingress"].rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=60) as smtp:
            smtp.sendmail("an.nguyen@example.vn", ["cskh@localhost"], EXAMPLE_MAIL.read_bytes())
        mailed = complaints("show", complaint_id_for("<vps-mat-ket-noi-20261203@example.vn>"), env=env)
        assert mailed.status == 0, mailed.stderr
        assert mailed.json()["intake"]["channel"] == "email"
    finally:
        assert again.interrupt() == 0, "".join(again.stderr)
    assert processes_using(data_dir) == []
