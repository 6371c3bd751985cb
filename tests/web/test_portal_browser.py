"""The customers' portal in a real browser (issue 14), on a phone (390×844) and at a desk (1280×900): complain
online with a file, read the receipt, follow the case by number and phone and by signed link, answer a request
with a file, read the written reply, disagree; withdraw another complaint. Every page is screenshotted into
artifacts/ (`portal-<viewport>-<page>.png`) and checked for sideways scrolling. No page can run a script (the
Content-Security-Policy says `script-src 'none'`), so what works here works without one."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from browser_support import BROWSER_TEST, assert_accessible
from playwright.async_api import Browser, BrowserContext, Page, expect
from test_web_attachments_browser import modem_png
from web_support import ARTIFACTS, TEMPORAL_UI

from domain.actions import Action, Role
from starter.client import ComplaintClient
from web.settings import WebSettings

pytestmark = [*BROWSER_TEST, pytest.mark.temporal, pytest.mark.postgres]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
AGENT = {"actor": "agent.lan", "role": Role.AGENT}
MANAGER = {"actor": "manager.hung", "role": Role.MANAGER}


@pytest.fixture(scope="module")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> WebSettings:
    """Playwright types faster than a person: no bot-trap clock here (it has its own test)."""
    return WebSettings(
        data_dir=Path(tmp_path_factory.mktemp("portal-browser")), temporal_ui=TEMPORAL_UI, portal_form_min_seconds=0
    )


async def new_page(browser: Browser, viewport: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        locale="vi-VN",
        is_mobile=viewport == "phone",
        has_touch=viewport == "phone",
    )
    return context, await context.new_page()


async def shot(page: Page, viewport: str, name: str) -> None:
    """A full-page screenshot, after checking the page does not scroll sideways at this width and has no serious or
    critical accessibility violation (axe-core, WCAG 2 A/AA)."""
    await no_sideways_scroll(page)
    await assert_accessible(page, f"portal {viewport} {name}")
    await page.screenshot(path=str(ARTIFACTS / f"portal-{viewport}-{name}.png"), full_page=True)


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"  # type: ignore[index]


async def complain_online(page: Page, base_url: str, viewport: str, subject: str, phone: str, file: Path) -> str:
    await page.goto(f"{base_url}/portal")
    await expect(page.get_by_role("heading", name="Khiếu nại và theo dõi khiếu nại")).to_be_visible()
    await shot(page, viewport, "start")
    await page.get_by_role("link", name=re.compile("Gửi khiếu nại")).first.click()
    await page.get_by_label("Họ và tên (bắt buộc)").fill("Lê Thị Hoa")
    await page.get_by_label("Số điện thoại").fill(phone)
    await page.get_by_label("Địa chỉ email").fill(f"hoa.{phone}@example.vn")
    await page.get_by_label("Dịch vụ liên quan (không bắt buộc)").fill("Lưu trữ web")
    await page.get_by_label("Tiêu đề (bắt buộc)").fill(subject)
    await page.get_by_label("Sự việc thế nào? (bắt buộc)").fill(
        "Từ 8 giờ sáng trang web của công ty tôi báo lỗi 503. Tôi gửi kèm ảnh chụp màn hình."
    )
    await page.get_by_label("Tệp đính kèm (không bắt buộc)").set_input_files(str(file))
    await shot(page, viewport, "complain")
    await page.get_by_role("button", name="Gửi khiếu nại").click()
    await expect(page.get_by_text("Chúng tôi đã nhận được khiếu nại của Quý khách.")).to_be_visible()
    case_number = (await page.locator(".case-number").inner_text()).strip()
    assert re.fullmatch(r"KN-\d{4}-\d{6,}", case_number)
    await shot(page, viewport, "received")
    await page.get_by_role("link", name="Phiếu tiếp nhận").click()
    await expect(page.get_by_text(case_number).first).to_be_visible()
    await shot(page, viewport, "receipt-form")
    return case_number


async def drive_to_answered(complaints: ComplaintClient, cid: str) -> None:
    await complaints.act(
        cid, Action.CAUSE_IDENTIFIED, **AGENT, data={"cause": "Máy chủ quá tải.", "company_at_fault": True}
    )
    await complaints.act(cid, Action.PROPOSE_PLAN, **AGENT, data={"plan": "Chuyển sang máy chủ mới."})
    await complaints.act(cid, Action.MANAGER_APPROVAL, **MANAGER, data={"approved": True})
    await complaints.act(
        cid,
        Action.SEND_RESOLUTION,
        **AGENT,
        data={"reply": "Chúng tôi đã chuyển trang web của Quý khách sang máy chủ mới.", "channels": ["email"]},
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
async def test_a_customer_complains_follows_answers_reads_the_reply_and_disagrees(
    browser: Browser,
    base_url: str,
    complaints: ComplaintClient,
    web_settings: WebSettings,
    viewport: str,
    tmp_path: Path,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = tmp_path / "ảnh lỗi 503.png"
    screenshot.write_bytes(modem_png())
    phone = "09" + str(uuid.uuid4().int)[:8]
    subject = f"Trang web báo lỗi 503 ({viewport})"

    context, page = await new_page(browser, viewport)
    case_number = await complain_online(page, base_url, viewport, subject, phone, screenshot)
    await context.close()

    # Another day, another browser: follow by number and phone (typed the international way).
    context, page = await new_page(browser, viewport)
    await page.goto(f"{base_url}/portal/follow")
    await page.get_by_label("Số khiếu nại").fill(case_number.lower())
    await page.get_by_label("Số điện thoại hoặc địa chỉ email của Quý khách").fill("+84 " + phone[1:])
    await shot(page, viewport, "follow")
    await page.get_by_role("button", name="Mở khiếu nại của tôi").click()
    await expect(page.locator("h1.case-number")).to_have_text(case_number)
    await expect(page.locator("#stage")).to_have_text("Đã tiếp nhận: chúng tôi sẽ sớm liên hệ với Quý khách")
    await expect(page.get_by_text("ảnh lỗi 503.png")).to_be_visible()
    await shot(page, viewport, "case")
    cid = re.search(r"/portal/case/([^/?]+)", page.url).group(1)  # type: ignore[union-attr]

    # Staff ask for information; the customer answers with a file.
    await complaints.act(
        cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["logs"], "message": "Xin gửi nhật ký lỗi của máy chủ."}
    )
    await page.reload()
    await expect(page.locator("#stage")).to_have_text("Chúng tôi đang chờ thông tin từ Quý khách")
    await expect(page.get_by_text("Xin gửi nhật ký lỗi của máy chủ.").first).to_be_visible()
    await shot(page, viewport, "request")
    answer = page.locator("#request")
    await answer.get_by_label("Nội dung trả lời").fill("Nhật ký lỗi đính kèm.")
    log_file = tmp_path / "nhật ký.txt"
    log_file.write_text("503 Service Unavailable\n", encoding="utf-8")
    await answer.get_by_label("Tệp đính kèm (không bắt buộc)").set_input_files(str(log_file))
    await answer.get_by_role("button", name="Gửi trả lời").click()
    await expect(page.locator(".banner.ok")).to_contain_text("Cảm ơn Quý khách")
    await expect(page.get_by_text("nhật ký.txt")).to_be_visible()
    await shot(page, viewport, "answered")
    await context.close()

    # The company answers in writing; the customer opens the case from the signed link in its letter.
    await drive_to_answered(complaints, cid)
    token = web_settings.case_links().sign(cid, datetime.now(UTC))
    context, page = await new_page(browser, viewport)
    await page.goto(f"{base_url}/portal/c/{token}")
    await expect(page.locator("#stage")).to_have_text("Chúng tôi đã trả lời khiếu nại của Quý khách")
    await expect(
        page.get_by_text("Chúng tôi đã chuyển trang web của Quý khách sang máy chủ mới.").first
    ).to_be_visible()
    await shot(page, viewport, "reply")
    await page.get_by_role("link", name="Văn bản trả lời").click()
    await expect(page.get_by_text("Chúng tôi đã chuyển trang web của Quý khách sang máy chủ mới.")).to_be_visible()
    await shot(page, viewport, "written-reply")
    await page.go_back()
    await page.locator("#disagree").get_by_label("Vì sao Quý khách không đồng ý?").fill("Trang web vẫn chậm.")
    await page.get_by_role("button", name="Yêu cầu xem xét lại").click()
    await expect(page.locator(".banner.ok")).to_contain_text("Cảm ơn Quý khách")
    await expect(page.get_by_text("Trang web vẫn chậm.")).to_be_visible()
    await shot(page, viewport, "disagreed")
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("#stage")).to_have_text("We have answered your complaint")
    await shot(page, viewport, "case-en")
    await context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
async def test_a_customer_withdraws_a_complaint(
    browser: Browser, base_url: str, web_settings: WebSettings, complaints: ComplaintClient, viewport: str
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    state = await complaints.start(
        {
            "customer": {"name": "Phạm Văn Đức", "phone": "0987654321"},
            "channel": "web",
            "subject": "Tên miền hết hạn sớm",
            "description": "Tên miền của tôi báo hết hạn dù tôi đã gia hạn.",
        }
    )
    context, page = await new_page(browser, viewport)
    await page.goto(f"{base_url}/portal/c/{web_settings.case_links().sign(state.complaint_id, datetime.now(UTC))}")
    await page.locator("#withdraw summary").click()
    await page.locator("#withdraw").get_by_label("Lý do").fill("Tôi đã tự xử lý được.")
    await shot(page, viewport, "withdraw")
    await page.get_by_role("button", name="Rút khiếu nại").click()
    await expect(page.locator("#stage")).to_have_text("Đã rút theo yêu cầu của Quý khách")
    await shot(page, viewport, "withdrawn")
    await page.goto(f"{base_url}/portal/c/not-a-token")
    await expect(page.get_by_text("Đường dẫn này không hợp lệ.", exact=False)).to_be_visible()
    await shot(page, viewport, "bad-link")
    await context.close()
