"""The managers' reports in a real browser (issue 15): a manager opens each report from the navigation, switches
language and period, downloads a table as CSV and reads its rows, and prints the month; an agent is refused.
Screenshots of every report (and the printed month) are left in `artifacts/`."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime

import pytest
from browser_support import BROWSER_TEST, assert_accessible, open_signed_in
from playwright.async_api import Browser, expect
from report_population import CAUSE, LESSON, Seeded, seed_reports
from web_support import ARTIFACTS

from activities.records import ComplaintRecords

pytestmark = [*BROWSER_TEST, pytest.mark.temporal, pytest.mark.postgres]

TABS = {
    "sla": ("Tuân thủ thời hạn (SLA)", "SLA compliance"),
    "stages": ("Thời gian dồn vào đâu", "Where the time goes"),
    "wip": ("Hồ sơ đang xử lý", "Work in progress"),
    "volume": ("Số lượng", "Volume"),
    "lessons": ("Bài học kinh nghiệm", "Lessons learned"),
}


@pytest.fixture(scope="module")
async def seeded(records: ComplaintRecords) -> Seeded:
    return await seed_reports(records, datetime.now(UTC))


async def test_a_manager_reads_switches_downloads_and_prints_the_reports(
    browser: Browser,
    base_url: str,
    staff: dict[str, str],
    seeded: Seeded,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = await open_signed_in(browser, base_url, staff["manager"])
    await page.get_by_role("navigation").get_by_role("link", name="Báo cáo").click()
    await expect(page).to_have_url(re.compile(r"/reports/sla$"))

    tabs = page.get_by_role("navigation", name="Báo cáo")
    for name, (vi, _) in TABS.items():
        await tabs.get_by_role("link", name=vi).click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(vi)
        await expect(page.locator("figure.chart svg").first).to_be_visible()
        await expect(page.locator("table.report").first).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / f"reports-{name}.png"), full_page=True)
        await assert_accessible(page, f"the report {name}")

    # The period: a shortcut puts it in the link, and the form shows it.
    await tabs.get_by_role("link", name="Tuân thủ thời hạn (SLA)").click()
    await page.get_by_role("link", name="3 tháng gần nhất").click()
    await expect(page).to_have_url(re.compile(r"/reports/sla\?from=\d{4}-\d{2}-01&to=\d{4}-\d{2}-\d{2}"))
    start = re.search(r"from=([0-9-]+)", page.url)
    assert start is not None
    await expect(page.get_by_label("Từ ngày")).to_have_value(start.group(1))
    by_department = page.locator("table[data-table=department]")
    await expect(by_department.locator("tbody tr")).to_have_count(2)
    await expect(by_department.locator("tbody tr").first).to_contain_text("Cước và thanh toán")

    # English, keeping the period.
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("SLA compliance")
    assert start.group(1) in page.url
    await expect(by_department.locator("tbody tr").first).to_contain_text("Billing")
    await page.screenshot(path=str(ARTIFACTS / "reports-sla-en.png"), full_page=True)

    # A table as CSV: the lessons, found by a search, in English headers, Vietnamese text intact.
    await page.get_by_role("navigation", name="Reports").get_by_role("link", name="Lessons learned").click()
    await page.get_by_label("Search lessons and causes").fill("đối soát")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"q=%C4%91%E1%BB%91i"))
    lessons = page.locator("table[data-table=lessons]")
    await expect(lessons.locator("tbody tr")).to_have_count(1)
    await expect(lessons).to_contain_text(LESSON)
    await page.screenshot(path=str(ARTIFACTS / "reports-lessons-en.png"), full_page=True)
    async with page.expect_download() as downloading:
        await page.locator(".report-table", has=lessons).get_by_role("link", name="CSV").click()
    download = await downloading.value
    assert re.fullmatch(r"lessons-lessons-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    saved = ARTIFACTS / "reports-lessons.csv"
    await download.save_as(saved)
    raw = await asyncio.to_thread(saved.read_bytes)
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [
        "Closed at",
        "Case number",
        "Department",
        "Cause",
        "Company at fault",
        "Lessons learned",
        "Summary",
    ]
    assert [row[1:] for row in rows[1:]] == [
        [seeded.states["a"].case_number, "billing", CAUSE, "yes", LESSON, "Đã hoàn cước"]
    ]

    # Back in Vietnamese, the month on paper.
    await page.get_by_role("link", name="Tiếng Việt").click()
    await page.get_by_role("link", name="Báo cáo tháng để in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Báo cáo tháng")
    month = seeded.states["a"].received_at.strftime("%Y-%m")
    await page.get_by_label("Tháng", exact=True).fill(month)
    await page.get_by_role("button", name="Xem").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Báo cáo tháng {month[5:]}/{month[:4]}")
    await expect(page.get_by_role("heading", level=2)).to_have_count(4)
    await page.screenshot(path=str(ARTIFACTS / "reports-monthly.png"), full_page=True)
    await assert_accessible(page, "the monthly report")
    await page.emulate_media(media="print")
    await expect(page.locator("header.topbar")).to_be_hidden()
    await page.screenshot(path=str(ARTIFACTS / "reports-monthly-print.png"), full_page=True)
    await page.context.close()

    agent = await open_signed_in(browser, base_url, staff["agent"])
    await expect(agent.get_by_role("navigation").get_by_role("link", name="Báo cáo")).to_have_count(0)
    response = await agent.goto(f"{base_url}/reports/sla")
    assert response is not None and response.status == 403
    await expect(agent.locator("main")).to_contain_text("Chỉ quản lý và quản trị viên được xem báo cáo.")
    await agent.context.close()
