"""The web form in a real browser: Debian's Chromium driven by Playwright, against the app served by uvicorn
in-process, with a real worker on the time-skipping server and the embedded PostgreSQL. Nothing is downloaded:
the browser is /usr/bin/chromium (`apt-get install chromium`), and the tests are skipped without it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from browser_support import BROWSER_TEST, assert_accessible, do, done, open_signed_in, stage_is
from playwright.async_api import Browser, expect
from samples import make_intake
from web_support import ARTIFACTS

from starter.client import ComplaintClient

pytestmark = [*BROWSER_TEST, pytest.mark.temporal, pytest.mark.postgres]


async def test_a_complaint_from_intake_to_close_in_the_browser(
    browser: Browser, base_url: str, complaints: ComplaintClient, staff: dict[str, str]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # Other complaints in the inbox: one long overdue (a letter received 30 days ago), one near its first response.
    now = datetime.now(UTC)
    await complaints.start(
        make_intake(channel="letter", subject="Thư khiếu nại cước roaming", received_at=now - timedelta(days=30))
    )
    await complaints.start(
        make_intake(channel="phone", subject="Không gửi được tin nhắn", received_at=now - timedelta(hours=21))
    )

    visitor = await browser.new_page(locale="vi-VN")
    await visitor.goto(f"{base_url}/login")
    await assert_accessible(visitor, "the sign-in page")
    await visitor.close()
    agent = await open_signed_in(browser, base_url, staff["agent"])

    # take it in, with a mistake first
    await agent.get_by_role("link", name="Tiếp nhận mới").first.click()
    await assert_accessible(agent, "the intake form")
    await agent.get_by_label("Tại chi nhánh").check()
    await agent.get_by_label("Tên khách hàng").fill("Lê Thị Hoa")
    await agent.get_by_label("Tiêu đề").fill("Bị trừ tiền hai lần khi gia hạn gói cước")
    await agent.get_by_label("Nội dung khiếu nại").fill(
        "Khách hàng đến chi nhánh Cầu Giấy, mang theo sao kê ngân hàng."
    )
    await agent.get_by_role("button", name="Tiếp nhận khiếu nại").click()
    await expect(agent.locator("#error-customer\\.phone")).to_have_text(
        "Cần ít nhất số điện thoại, email hoặc địa chỉ."
    )
    await agent.screenshot(path=str(ARTIFACTS / "intake-errors.png"), full_page=True)
    await assert_accessible(agent, "the intake form with its errors")
    await agent.get_by_label("Điện thoại").fill("0987 654 321")
    await agent.get_by_label("Email", exact=False).first.fill("hoa.le@example.vn")
    await agent.get_by_role("button", name="Tiếp nhận khiếu nại").click()
    await expect(agent.get_by_text("Đã tiếp nhận khiếu nại")).to_be_visible()
    case_number = (await agent.locator(".case-number").inner_text()).strip()
    assert re.fullmatch(r"KN-\d{4}-\d{6}", case_number)
    await expect(agent.get_by_role("link", name="Phiếu tiếp nhận (in)")).to_be_visible()
    await agent.get_by_role("link", name="Mở khiếu nại").click()
    await stage_is(agent, "Đã tiếp nhận")
    await expect(agent.get_by_role("link", name=re.compile("Mở trong Temporal UI"))).to_have_attribute(
        "href", re.compile(r"/namespaces/default/workflows/complaint-[0-9a-f]{32}$")
    )
    complaint_url = agent.url

    await do(agent, "acknowledge", {"message": "Chúng tôi đã nhận khiếu nại và sẽ phản hồi sớm."})
    await done(agent, "Xác nhận đã tiếp nhận")
    await stage_is(agent, "Đang phân tích")
    await assert_accessible(agent, "a complaint page with its action forms")

    await do(agent, "request_info", {"message": "Xin gửi ảnh chụp sao kê có hai giao dịch."}, checks=("documents",))
    await done(agent, "Yêu cầu khách hàng bổ sung thông tin")
    await stage_is(agent, "Chờ khách hàng")

    await do(agent, "customer_info_received", {"summary": "Khách đã gửi sao kê: hai giao dịch 99.000 đ ngày 03/11."})
    await done(agent, "Ghi nhận thông tin khách hàng bổ sung")
    await stage_is(agent, "Đang phân tích")

    await do(agent, "transfer", {"to_department": "billing", "reason": "Lỗi thanh toán thuộc bộ phận cước."})
    await done(agent, "Chuyển bộ phận khác")
    await expect(agent.locator(".meta")).to_contain_text("Cước và thanh toán")

    # a second tab, left open on the cause-identified stage, will be stale in a moment
    await do(
        agent,
        "cause_identified",
        {"cause": "Cổng thanh toán gửi lại giao dịch khi hết thời gian chờ."},
        checks=("on", "billing", "technical"),
    )
    await done(agent, "Ghi nhận nguyên nhân")
    await stage_is(agent, "Đã xác định nguyên nhân")
    stale = await agent.context.new_page()
    await stale.goto(complaint_url)

    await do(agent, "propose_plan", {"plan": "Hoàn lại 99.000 đ trong 3 ngày làm việc; sửa cấu hình thời gian chờ."})
    await done(agent, "Đề xuất phương án giải quyết")
    await stage_is(agent, "Chờ phê duyệt")
    await expect(agent.locator("#action-manager_approval")).to_have_count(0)

    # the stale tab proposes again: the workflow refuses, the reason is shown, nothing changes
    await do(stale, "propose_plan", {"plan": "Một phương án khác"})
    await expect(stale.locator(".banner.error")).to_contain_text("Thao tác bị từ chối; không có gì thay đổi.")
    await expect(stale.locator(".banner.error")).to_contain_text(
        "Không thể “Đề xuất phương án giải quyết” khi khiếu nại đang ở trạng thái “Chờ phê duyệt”."
    )
    await stage_is(stale, "Chờ phê duyệt")
    await stale.screenshot(path=str(ARTIFACTS / "rejection.png"), full_page=True)
    await stale.close()

    # the manager finds it by its case number and approves
    manager = await open_signed_in(browser, base_url, staff["manager"])
    await manager.get_by_placeholder("Số khiếu nại, khách hàng hoặc tiêu đề").fill(case_number)
    await manager.get_by_role("button", name="Lọc").click()
    await expect(manager.locator(".case-number")).to_have_text(case_number)
    await do(manager, "manager_approval", {"comment": "Đồng ý hoàn tiền."}, button="Phê duyệt phương án")
    await expect(manager.locator(".banner.ok")).to_have_text("Phương án đã được duyệt.")  # says which way
    await stage_is(manager, "Phương án đã được duyệt")

    # the agent sends the resolution and closes with lessons learned
    await agent.goto(complaint_url)
    await stage_is(agent, "Phương án đã được duyệt")
    await do(
        agent,
        "send_resolution",
        {"reply": "Công ty đã hoàn lại 99.000 đ vào tài khoản của Quý khách."},
        checks=("letter",),
    )
    await done(agent, "Gửi kết quả giải quyết")
    await stage_is(agent, "Đã trả lời")
    await expect(agent.locator(".documents")).to_contain_text("Văn bản trả lời")
    await expect(agent.locator(".documents")).to_contain_text("Yêu cầu khắc phục")

    await do(
        agent,
        "close",
        {
            "summary": "Hoàn tiền cho khách, sửa cấu hình cổng thanh toán.",
            "lessons_learned": "Theo dõi giao dịch trùng sau mỗi lần cổng thanh toán hết thời gian chờ.",
        },
    )
    await done(agent, "Đóng khiếu nại, rút kinh nghiệm")
    await stage_is(agent, "Đã đóng")
    timeline = agent.locator("ol.timeline")
    for kind in (
        "Tiếp nhận khiếu nại",
        "Đã xác nhận tiếp nhận",
        "Đã yêu cầu bổ sung thông tin",
        "Khách hàng đã bổ sung thông tin",
        "Đã chuyển bộ phận",
        "Đã xác định nguyên nhân",
        "Đã đề xuất phương án",
        "Quản lý đã quyết định phương án",
        "Đã gửi kết quả giải quyết",
        "Đã đóng",
    ):
        await expect(timeline).to_contain_text(kind)
    await expect(timeline.locator("li")).to_have_count(10)
    await agent.screenshot(path=str(ARTIFACTS / "complaint.png"), full_page=True)
    await assert_accessible(agent, "a closed complaint's page")

    # the written reply prints as its own page, in Vietnamese
    async with agent.context.expect_page() as opened:
        await agent.get_by_role("link", name="Văn bản trả lời").click()
    document = await opened.value
    await expect(document.locator("h1")).to_have_text("VĂN BẢN TRẢ LỜI KHIẾU NẠI")
    await assert_accessible(document, "the written reply")
    await document.close()

    # the inbox: the overdue letter highlighted, the closed complaint listed under "all stages"
    await agent.get_by_role("link", name="Hộp khiếu nại").first.click()
    await expect(agent.locator("tr.row-breached")).to_contain_text("Thư khiếu nại cước roaming")
    await agent.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)
    await assert_accessible(agent, "the inbox")
    await agent.get_by_label("Trạng thái").select_option("all")
    await agent.get_by_role("button", name="Lọc").click()
    await expect(agent.locator("table.inbox")).to_contain_text(case_number)

    await agent.get_by_role("link", name="English").click()
    await expect(agent.get_by_role("heading", name="Inbox")).to_be_visible()
    await agent.screenshot(path=str(ARTIFACTS / "inbox-en.png"), full_page=True)
    await assert_accessible(agent, "the inbox in English")
    await agent.context.close()
    await manager.context.close()
