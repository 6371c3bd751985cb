"""What the browser tests share: their marks, Debian's Chromium driven by Playwright, an agent's moves in the
web form (signing in, acting on a complaint), and the accessibility check of a page with axe-core. Nothing is
downloaded: the browser is /usr/bin/chromium (`apt-get install chromium`), and the tests are skipped without it;
axe-core is the file scripts/test.sh fetched (`python scripts/fetch_axe_core.py`), and a check fails without it."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from web_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD

NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium: apt-get install chromium"
)
BROWSER_TEST = [pytest.mark.browser, NEEDS_CHROMIUM]
"""The marks of every test that drives Chromium (with `temporal`/`postgres` where the test needs them)."""

expect.set_options(timeout=30_000)  # the Temporal UI, on a busy two-core host, is the slowest page

AXE_CORE = Path(__file__).resolve().parents[2] / ".cache" / "axe-core-4.14.1" / "axe.min.js"
"""axe-core's browser script, where scripts/fetch_axe_core.py puts it (its TARGET; a test keeps them equal)."""
WCAG_A_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
"""The rules the check runs: axe's tags for WCAG 2.0, 2.1 and 2.2 at levels A and AA (its best-practice rules are
advice, not failures)."""
_RUN_AXE = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
    return results.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 200)})),
    }));
}"""


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


async def accessibility_violations(
    page: Page, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A/AA violations of the page as it is now, of the given impacts: each its rule id, impact,
    help text and (up to five) offending elements, so a failed `assert not ...` says what to fix and where.

    The pages' Content-Security-Policy allows no script, so `page.add_script_tag` is refused; `page.evaluate` runs
    through the DevTools protocol, which the page's CSP does not govern, so axe is evaluated there, in the page
    itself, with the policy in force for everything else (no `bypass_csp` context that would check another page
    than the one customers get)."""
    if not AXE_CORE.is_file():
        pytest.fail(
            f"axe-core is not at {AXE_CORE}: run `python scripts/fetch_axe_core.py` (scripts/test.sh does it)",
            pytrace=False,
        )
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE_CORE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = await page.evaluate(_RUN_AXE, list(WCAG_A_AA))
    return [violation for violation in violations if violation["impact"] in impacts]


async def assert_accessible(page: Page, what: str) -> None:
    """No serious or critical WCAG 2 A/AA violation on the page: the message lists them, one per line."""
    found = await accessibility_violations(page)
    listed = "\n".join(json.dumps(violation, ensure_ascii=False) for violation in found)
    assert not found, f"{what}: accessibility violations\n{listed}"
