"""The accessibility check itself (issue 14): axe-core runs inside a page served with the app's script-free
Content-Security-Policy and finds what it should, so a page that passes it passed a real check."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from browser_support import AXE_CORE, NEEDS_CHROMIUM, accessibility_violations
from playwright.async_api import Browser

FETCH_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_axe_core.py"

SCRIPT_RUNS = """() => new Promise((resolve) => {
    const script = document.createElement("script");
    script.textContent = "window.scriptRan = true";
    document.body.append(script);
    setTimeout(() => resolve(window.scriptRan === true), 200);
})"""
"""Whether a script the page itself adds runs: the app's CSP refuses it."""


def test_the_tests_read_axe_core_where_the_test_command_puts_it() -> None:
    assert runpy.run_path(str(FETCH_SCRIPT))["TARGET"] == AXE_CORE


@pytest.mark.browser
@NEEDS_CHROMIUM
@pytest.mark.temporal
@pytest.mark.postgres
async def test_axe_runs_under_the_pages_policy_and_finds_what_is_wrong(browser: Browser, base_url: str) -> None:
    page = await browser.new_page(locale="vi-VN")
    await page.goto(f"{base_url}/login")
    assert not await page.evaluate(SCRIPT_RUNS), "the page's policy refuses scripts, and stays in force"
    assert await accessibility_violations(page) == []

    # The same page with an image without a text alternative and a field without a label.
    await page.evaluate(
        """() => document.body.insertAdjacentHTML(
            "beforeend", '<img src="/static/favicon.svg" class="unnamed"><input type="text" class="unnamed">')"""
    )
    found = {violation["id"]: violation for violation in await accessibility_violations(page)}
    assert found["image-alt"]["impact"] == "critical"
    assert found["image-alt"]["nodes"] == [{"target": "img", "html": '<img src="/static/favicon.svg" class="unnamed">'}]
    assert "label" in found, found
    assert not await page.evaluate(SCRIPT_RUNS), "checking loosened nothing"
    await page.close()
