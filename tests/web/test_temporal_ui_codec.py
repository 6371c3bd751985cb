"""The operator's view end to end: `complaints dev` starts the Temporal UI with its codec endpoint on the web app;
in Debian's Chromium, a manager signed in on the web form opens a complaint in the Temporal UI and reads its
input decrypted, while a browser without that sign-in sees only ciphertext.

The dev server's UI config has no switch for "include cross-origin credentials" (its `--ui-codec-endpoint` sets
only the endpoint), so the browser turns it on the way the UI's own "Codec Server" settings dialog does: the
persisted stores `endpoint`, `overrideRemoteCodecConfiguration` and `includeCredentials` in the UI origin's
localStorage (JSON values). Without credentials the UI's fetch carries no session cookie and the codec answers 401.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import BROWSER_TEST
from dev_process import DevProcess, kill_leftovers
from playwright.async_api import Browser, BrowserContext, expect
from samples import COMPLAINTS, clean_env
from web_support import ARTIFACTS

from complaints.temporal_server import free_port

CUSTOMER = "Nguyễn Văn An"
PHONE = "0912 345 678"

pytestmark = [*BROWSER_TEST, pytest.mark.temporal, pytest.mark.postgres]


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    data_dir = tmp_path / "data"
    running = DevProcess(data_dir, free_port(), free_port(), free_port(), free_port())
    try:
        yield running
    finally:
        running.interrupt()
        kill_leftovers(data_dir)


async def ui_context(browser: Browser, ui: str, codec_endpoint: str) -> BrowserContext:
    """A browser whose Temporal UI sends the codec requests with credentials (see the module docstring)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    settings = {"endpoint": codec_endpoint, "overrideRemoteCodecConfiguration": True, "includeCredentials": True}
    await context.add_init_script(
        f"if (location.origin === {json.dumps(ui)}) {{"
        + "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(json.dumps(v))});" for k, v in settings.items())
        + "}"
    )
    return context


async def test_a_signed_in_manager_reads_the_complaint_decoded_in_the_temporal_ui(
    dev: DevProcess, browser: Browser, tmp_path: Path
) -> None:
    addresses = await asyncio.to_thread(dev.addresses)
    ui, web = addresses["temporal_ui"], addresses["web"]
    assert ui == f"http://localhost:{dev.ui_port}" and web == f"http://localhost:{dev.web_port}"

    intake = {
        "customer": {"name": CUSTOMER, "phone": PHONE, "email": "an@example.vn"},
        "channel": "support_ticket",
        "subject": "Hóa đơn tháng 10 bị tính trùng",
        "description": "Tôi bị trừ tiền hai lần cho cùng một hóa đơn.",
        "complaint_id": f"ui-{uuid.uuid4().hex[:12]}",
    }
    intake_file = tmp_path / "intake.json"
    intake_file.write_text(json.dumps(intake, ensure_ascii=False), encoding="utf-8")
    started = await asyncio.to_thread(
        subprocess.run,
        [str(COMPLAINTS), "start", "--data-dir", str(dev.data_dir), str(intake_file)],
        env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    workflow_url = f"{ui}/namespaces/default/workflows/{json.loads(started.stdout)['workflow_id']}"

    # without a sign-in on the web form, the UI's codec requests are refused: the input stays ciphertext
    stranger = await ui_context(browser, ui, f"{web}/codec")
    page = await stranger.new_page()
    refused: list[int] = []
    page.on("response", lambda r: refused.append(r.status) if "/codec/decode" in r.url else None)
    await page.goto(workflow_url)
    deadline = time.monotonic() + 30
    while not refused and time.monotonic() < deadline:
        await page.wait_for_timeout(200)
    await page.wait_for_timeout(1000)  # whatever the UI shows after the refusal
    assert refused and set(refused) == {401}
    assert CUSTOMER not in await page.inner_text("body")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "temporal-ui-not-signed-in.png"), full_page=True)
    await stranger.close()

    # a manager signs in on the web form (same host as the UI, so the UI's fetch carries the session cookie)
    context = await ui_context(browser, ui, f"{web}/codec")
    page = await context.new_page()
    await page.goto(f"{web}/login")
    await page.locator("input[name=username]").fill("manager")
    await page.locator("input[name=password]").fill("complaints-dev")
    await page.locator("form button[type=submit]").first.click()
    await expect(page).to_have_url(f"{web}/")

    decoded: list[int] = []
    page.on("response", lambda r: decoded.append(r.status) if "/codec/decode" in r.url else None)
    await page.goto(workflow_url)
    await expect(page.get_by_text(CUSTOMER).first).to_be_visible()
    await expect(page.get_by_text(PHONE).first).to_be_visible()
    assert decoded and set(decoded) == {200}
    await page.screenshot(path=str(ARTIFACTS / "temporal-ui-decoded.png"), full_page=True)
    await context.close()
