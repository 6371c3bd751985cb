"""`complaints mail-ingress` as production runs it (the compose service's command): its own process, against the
worker, Temporal and PostgreSQL the environment names, stopped by SIGTERM like a container."""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import complaints
from samples import COMPLAINTS

from complaints.temporal_server import free_port
from domain.mail_in import complaint_id_for

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

EXAMPLE_MAIL = Path(__file__).resolve().parent.parent.parent / "docs" / "examples" / "complaint.eml"


@pytest.fixture(scope="module")
def ingress(
    server_env: dict[str, str], worker: subprocess.Popen[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = tmp_path_factory.mktemp("mail-ingress") / "mail-ingress.log"
    env = {**server_env, "COMPLAINTS_MAIL_INGRESS_ADDRESS": f"127.0.0.1:{port}"}
    with log.open("w") as out:
        proc = subprocess.Popen([str(COMPLAINTS), "mail-ingress"], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "listening on" not in log.read_text():
        assert proc.poll() is None, f"complaints mail-ingress exited with {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"complaints mail-ingress did not start:\n{log.read_text()}"
        time.sleep(0.1)
    yield "127.0.0.1", port
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "an.nguyen@example.vn" not in log.read_text()  # no address in the logs


def test_the_production_command_takes_mail_into_a_complaint(
    ingress: tuple[str, int], server_env: dict[str, str]
) -> None:
    host, port = ingress
    with smtplib.SMTP(host, port, timeout=60) as smtp:
        smtp.sendmail("an.nguyen@example.vn", ["cskh@localhost"], EXAMPLE_MAIL.read_bytes())
    shown = complaints("show", complaint_id_for("<vps-mat-ket-noi-20261203@example.vn>"), env=server_env)
    assert shown.status == 0, shown.stderr
    state = shown.json()
    assert state["intake"]["channel"] == "email"
    assert state["intake"]["customer"]["name"] == "Nguyễn Văn An"
    assert json.dumps(state["intake"]["subject"], ensure_ascii=False) == '"VPS mất kết nối từ sáng nay"'


def test_a_bad_listen_address_stops_it_naming_the_setting(server_env: dict[str, str]) -> None:
    env = {**server_env, "COMPLAINTS_MAIL_INGRESS_ADDRESS": "nowhere"}
    done = subprocess.run([str(COMPLAINTS), "mail-ingress"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "COMPLAINTS_MAIL_INGRESS_ADDRESS" in done.stderr
