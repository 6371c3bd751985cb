"""The dev stack's mail catcher: `complaints dev` sends the outbox's mail to a local SMTP server that keeps it,
and an admin reads it in the web form, in the page's language, escaped."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import re
import smtplib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import NEEDS_CHROMIUM, assert_accessible, chromium, open_signed_in
from dev_process import DevProcess, kill_leftovers
from playwright.async_api import expect
from samples import COMPLAINTS, clean_env, make_intake
from web_support import ARTIFACTS, csrf_of

from activities.caught_mail import CAUGHT_MAIL_DIR, CaughtMail
from activities.outbox import SmtpTransport
from complaints.data_dir import STACK_FILE
from complaints.mail_catcher import mail_catcher
from complaints.temporal_server import free_port
from starter.settings import Settings
from web.users import DEV_PASSWORD

HOSTILE = "<script>alert('x')</script>"


async def test_the_catcher_keeps_each_message_as_sent(tmp_path: Path) -> None:
    async with mail_catcher(tmp_path) as address:
        host, _, port = address.rpartition(":")
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = "cskh@example.vn"
        message["To"] = "khach@example.vn"
        message["Subject"] = "[KN-2026-000123] Xác nhận tiếp nhận khiếu nại"
        message.set_content(f"Kính gửi Quý khách,\n{HOSTILE}\n", cte="quoted-printable")
        await SmtpTransport(host, int(port)).send(message)
    mailbox = CaughtMail.of_data_dir(tmp_path)
    [caught] = mailbox.latest()
    assert caught.subject == "[KN-2026-000123] Xác nhận tiếp nhận khiếu nại"
    assert caught.case_number == "KN-2026-000123"
    assert caught.to == "khach@example.vn"
    assert HOSTILE in caught.text
    assert ("Subject", caught.subject) in caught.headers
    raw = (tmp_path / CAUGHT_MAIL_DIR / caught.name).read_bytes()
    assert email.message_from_bytes(raw, policy=email.policy.default)["Subject"] == caught.subject
    assert mailbox.read("../../etc/passwd") is None and mailbox.read(".hidden.eml") is None


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevProcess, dict[str, Any]]]:
    data_dir = tmp_path_factory.mktemp("caught") / "data"
    process = DevProcess(data_dir, free_port(), free_port(), free_port(), free_port())
    try:
        yield process, process.addresses()
    finally:
        try:
            assert process.interrupt() == 0, "".join(process.stderr)
        finally:
            kill_leftovers(data_dir)


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [str(COMPLAINTS), *args],
        input=stdin,
        env=clean_env(COMPLAINTS_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    return parsed


def wait_for_mail(data_dir: Path, count: int, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    while True:
        found = sorted((data_dir / CAUGHT_MAIL_DIR).glob("*.eml"))
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} caught, {count} expected"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def acknowledged(dev: tuple[DevProcess, dict[str, Any]]) -> str:
    """A complaint acknowledged through the command line: the outbox mails the customer. Its case number.
    Taken by phone, so the acknowledgement is its one mail (a complaint by e-mail also gets a receipt)."""
    process, _ = dev
    intake = make_intake(channel="phone")
    case_number = str(cli(process.data_dir, "start", "-", stdin=json.dumps(intake))["case_number"])
    cli(process.data_dir, "act", intake["complaint_id"], "acknowledge", "--actor", "lan", "--role", "agent")
    wait_for_mail(process.data_dir, 1)
    return case_number


@pytest.mark.temporal
@pytest.mark.postgres
def test_the_dev_stack_catches_what_the_outbox_sends(dev: tuple[DevProcess, dict[str, Any]], acknowledged: str) -> None:
    process, addresses = dev
    assert re.fullmatch(r"127\.0\.0\.1:[0-9]+", addresses["mail_catcher"])
    assert json.loads((process.data_dir / STACK_FILE).read_text())["mail_catcher"] == addresses["mail_catcher"]
    [caught] = wait_for_mail(process.data_dir, 1)
    message = email.message_from_bytes(caught.read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "bich@example.vn"
    assert message["To"].addresses[0].display_name == "Trần Thị Bích"
    assert message["Subject"].count(f"[{acknowledged}]") == 1
    assert message["Message-ID"].endswith("@localhost>")  # the default sender, cskh@localhost
    # The letter's portal link leads to this stack's web form (--web-port), signed with the key of its data
    # directory (--data-dir), the one its web form reads: the worker and the web form agree.
    text = message.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(addresses['web'])}/portal/c/(\S+) \(", text)
    assert link is not None, text
    assert Settings(data_dir=process.data_dir).case_links().read(link[1], datetime.now(UTC))
    # and the customer who follows it, with no account, lands on their case in the portal
    case_page = httpx.get(link[0].removesuffix(" ("), follow_redirects=True, timeout=20)
    assert case_page.status_code == 200
    assert case_page.url.path.startswith("/portal/case/")
    assert acknowledged in case_page.text


@contextlib.asynccontextmanager
async def signed_in(base_url: str, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={"csrf_token": csrf_of(page.text), "username": username, "password": DEV_PASSWORD, "next": "/"},
        )
        assert response.status_code == 303, response.text
        yield client


@pytest.mark.temporal
@pytest.mark.postgres
async def test_only_an_admin_reads_the_caught_mail(dev: tuple[DevProcess, dict[str, Any]], acknowledged: str) -> None:
    process, addresses = dev
    host, _, port = addresses["mail_catcher"].rpartition(":")
    hostile = EmailMessage(policy=email.policy.SMTP)
    hostile["From"], hostile["To"], hostile["Subject"] = "x@example.vn", "y@example.vn", f"Test {HOSTILE}"
    hostile.set_content(HOSTILE)
    await asyncio.to_thread(smtplib.SMTP(host, int(port)).send_message, hostile)
    wait_for_mail(process.data_dir, 2)

    for role in ("agent", "manager"):
        async with signed_in(addresses["web"], role) as client:
            assert (await client.get("/mail")).status_code == 403
            assert "/mail" not in (await client.get("/")).text  # not in the menu either
    async with signed_in(addresses["web"], "admin") as client:
        listing = await client.get("/mail", params={"lang": "en"})
        assert listing.status_code == 200
        assert acknowledged in listing.text and "Caught mail" in listing.text
        assert HOSTILE not in listing.text and "&lt;script&gt;" in listing.text
        names = re.findall(r'href="/mail/([0-9]+-[0-9a-f]+\.eml)"', listing.text)
        assert len(names) == 2
        for name in names:
            shown = await client.get(f"/mail/{name}", params={"lang": "vi"})
            assert shown.status_code == 200 and "Thư đã giữ lại" in shown.text
            assert HOSTILE not in shown.text
        assert (await client.get("/mail/..%2F..%2Fstack.json")).status_code == 404
        assert (await client.get("/mail/1-00000000.eml")).status_code == 404


@pytest.mark.browser
@pytest.mark.temporal
@pytest.mark.postgres
@NEEDS_CHROMIUM
async def test_a_newcomer_reads_a_caught_message_in_the_browser(
    dev: tuple[DevProcess, dict[str, Any]], acknowledged: str
) -> None:
    _, addresses = dev
    async with chromium() as browser:
        page = await open_signed_in(browser, addresses["web"], "admin", DEV_PASSWORD)
        await page.get_by_role("link", name="Thư đã giữ lại").click()
        await expect(page.get_by_role("heading", name="Thư đã giữ lại")).to_be_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "caught-mail-list.png"), full_page=True)
        await assert_accessible(page, "the caught mail")
        await page.get_by_role("link", name=re.compile(r"Xác nhận tiếp nhận khiếu nại")).first.click()
        await expect(page.get_by_role("heading", name=re.compile(re.escape(f"[{acknowledged}]")))).to_be_visible()
        await expect(page.locator(".mail-text")).to_contain_text("Trần Thị Bích")
        await page.screenshot(path=str(ARTIFACTS / "caught-mail-message.png"), full_page=True)
        await assert_accessible(page, "a caught message")
