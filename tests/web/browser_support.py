"""What the browser tests share: their marks, Debian's Chromium driven by Playwright, and an agent's moves in the
web form (signing in, acting on a complaint). Nothing is downloaded: the browser is /usr/bin/chromium
(`apt-get install chromium`), and the tests are skipped without it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from web_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD

NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium: apt-get install chromium"
)
BROWSER_TEST = [pytest.mark.browser, NEEDS_CHROMIUM]
"""The marks of every test that drives Chromium (with `temporal`/`postgres` where the test needs them)."""

expect.set_options(timeout=30_000)  # the Temporal UI, on a busy two-core host, is the slowest page


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, closed at the end of the block."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_signed_in(browser: Browser, base_url: str, username: str, password: str = PASSWORD) -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    await page.goto(f"{base_url}/")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.get_by_role("heading", name="Hộp khiếu nại")).to_be_visible()
    return page


async def do(
    page: Page,
    action: str,
    fields: dict[str, str] | None = None,
    checks: tuple[str, ...] = (),
    button: str | None = None,
) -> None:
    """Open one action's form on the complaint page, fill it in and submit it, as an agent would."""
    form = page.locator(f"#action-{action}")
    await form.locator("summary").click()
    for name, value in (fields or {}).items():
        field = form.locator(f"[name='{name}']")
        if await field.evaluate("element => element.tagName") == "SELECT":  # a department: chosen by its code
            await field.select_option(value)
        else:
            await field.fill(value)
    for value in checks:
        await form.locator(f"input[value='{value}']").check()
    submit = form.get_by_role("button", name=button) if button else form.locator("button[type=submit]").first
    await submit.click()


async def done(page: Page, label: str) -> None:
    await expect(page.locator(".banner.ok")).to_contain_text(f"Đã thực hiện: {label}")


async def stage_is(page: Page, label: str) -> None:
    await expect(page.locator(".page-head .badge").first).to_have_text(label)
