"""The conversation with a customer in a real browser (issue 13): a complaint by e-mail with a screenshot, the
agent's request for information, the customer's answer by mail with an invoice. The inbox marks the unread answer,
the complaint page shows the four messages in order, and the invoice downloads as the customer sent it."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from browser_support import BROWSER_TEST, assert_accessible, do, open_signed_in
from playwright.async_api import Browser, expect
from samples import make_intake
from test_web_attachments_browser import INVOICE, INVOICE_NAME, modem_png
from web_support import ARTIFACTS

from activities.attachments import AttachmentStore
from domain.actions import Action, Door, Role
from starter.client import ComplaintClient

pytestmark = [*BROWSER_TEST, pytest.mark.temporal, pytest.mark.postgres]

SUBJECT = "Modem mất tín hiệu sau khi mưa bão"
SCREENSHOT_NAME = "ảnh chụp đèn modem.png"


async def test_an_agent_reads_the_conversation_and_downloads_the_customers_invoice(
    browser: Browser,
    base_url: str,
    complaints: ComplaintClient,
    store: AttachmentStore,
    staff: dict[str, str],
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)

    # What the mail ingress does with a new mail: keep its file, then start the complaint (channel email).
    cid = uuid.uuid4().hex
    screenshot = await store.put(cid, SCREENSHOT_NAME, "image/png", modem_png())
    state = await complaints.start(
        make_intake(
            complaint_id=cid,
            customer={"name": "Đặng Thị Ánh", "email": "anh.dang@example.vn"},
            subject=SUBJECT,
            description="Từ tối qua modem nhà tôi mất tín hiệu, đèn LOS nhấp nháy đỏ. Tôi gửi kèm ảnh chụp.",
            attachments=[screenshot.model_dump(mode="json")],
            message_id=f"<{cid}@mail.example.vn>",
        )
    )

    agent = await open_signed_in(browser, base_url, staff["agent"])
    await agent.goto(f"{base_url}/complaints/{cid}")
    await do(
        agent,
        "request_info",
        {"message": "Xin Quý khách gửi hóa đơn tháng 10 để chúng tôi kiểm tra gói cước."},
        checks=("documents",),
    )
    await expect(agent.locator(".banner.ok")).to_be_visible()

    # The customer answers by mail, with the invoice: the ingress keeps the file and records the answer.
    invoice = await store.put(cid, INVOICE_NAME, "application/pdf", INVOICE)
    await complaints.act(
        cid,
        Action.CUSTOMER_INFO_RECEIVED,
        actor="mail",
        role=Role.SYSTEM,
        door=Door.EMAIL,
        data={
            "summary": "Tôi gửi hóa đơn tháng 10 đính kèm. Modem vẫn chưa có tín hiệu.",
            "attachments": [invoice.model_dump(mode="json")],
        },
    )

    # The inbox shows at once that the customer wrote.
    await agent.goto(f"{base_url}/")
    row = agent.locator("tr", has_text=SUBJECT)
    await expect(row.locator(".badge.mail")).to_have_text("✉ Thư mới của khách hàng")
    await expect(agent.locator("p.count .badge.mail")).to_contain_text("có thư khách hàng chưa đọc")
    await agent.screenshot(path=str(ARTIFACTS / "inbox-unread-mail.png"), full_page=True)
    await assert_accessible(agent, "the inbox with unread mail")

    # The complaint page: four messages in order, each with its files.
    await row.get_by_role("link", name=SUBJECT).click()
    conversation = agent.locator("#conversation")
    await expect(conversation.get_by_role("heading", name="Trao đổi với khách hàng")).to_be_visible()
    messages = conversation.locator("ol.conversation > li")
    await expect(messages).to_have_count(4)
    await expect(messages.nth(0)).to_contain_text("Từ khách hàng")
    await expect(messages.nth(0)).to_contain_text("đèn LOS nhấp nháy đỏ")
    await expect(messages.nth(0).get_by_role("link")).to_have_text([SCREENSHOT_NAME])
    await expect(messages.nth(1)).to_contain_text(f"[{state.case_number}] Đã nhận khiếu nại của Quý khách")
    await expect(messages.nth(2)).to_contain_text("Xin Quý khách gửi hóa đơn tháng 10")
    await expect(messages.nth(3)).to_contain_text("Modem vẫn chưa có tín hiệu.")
    await expect(messages.nth(3).get_by_role("link")).to_have_text([INVOICE_NAME])
    await conversation.scroll_into_view_if_needed()
    await conversation.screenshot(path=str(ARTIFACTS / "conversation.png"))
    await agent.screenshot(path=str(ARTIFACTS / "conversation-page.png"), full_page=True)
    await assert_accessible(agent, "a complaint page with its conversation")

    async with agent.expect_download() as downloading:
        await messages.nth(3).get_by_role("link", name=INVOICE_NAME).click()
    download = await downloading.value
    assert download.suggested_filename == INVOICE_NAME
    saved = ARTIFACTS / "conversation-download.pdf"
    await download.save_as(saved)
    assert await asyncio.to_thread(saved.read_bytes) == INVOICE
    assert download.url.endswith(f"/attachments/{invoice.attachment_id}")

    # Opened: the mark is gone for the whole team.
    await agent.goto(f"{base_url}/")
    await expect(agent.locator("tr", has_text=SUBJECT)).to_be_visible()
    await expect(agent.locator("tr", has_text=SUBJECT).locator(".badge.mail")).to_have_count(0)
    await agent.context.close()


async def test_mail_to_a_closed_complaint_is_reopened_in_one_click(
    browser: Browser,
    base_url: str,
    complaints: ComplaintClient,
    staff: dict[str, str],
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    state = await complaints.start(make_intake(subject="Website chậm vào giờ cao điểm"))
    cid = state.complaint_id
    agent_role = {"actor": staff["agent"], "role": Role.AGENT}
    await complaints.act(
        cid, Action.RESOLVE_ON_FIRST_CONTACT, **agent_role, data={"resolution": "Đã nâng gói.", "customer_agreed": True}
    )
    await complaints.act(cid, Action.CLOSE, **agent_role, data={"summary": "Xong", "lessons_learned": "Theo dõi tải"})
    await complaints.act(
        cid,
        Action.CUSTOMER_WROTE,
        actor="mail",
        role=Role.SYSTEM,
        door=Door.EMAIL,
        data={"text": "Website lại chậm như cũ, đề nghị xem lại.", "subject": "Re: Website chậm"},
    )
    assert (await complaints.state(cid)).stage.value == "closed"  # the mail alone reopens nothing

    agent = await open_signed_in(browser, base_url, staff["agent"])
    await agent.goto(f"{base_url}/complaints/{cid}")
    offer = agent.locator("#reopen-offer")
    await expect(offer).to_contain_text("sau khi khiếu nại đã đóng")
    await expect(offer.locator("input[name=reason]")).to_have_value(re.compile(r"Khách hàng đã viết thư lúc .+"))
    await agent.screenshot(path=str(ARTIFACTS / "reopen-offer.png"), full_page=True)
    await offer.get_by_role("button", name="Mở lại khiếu nại").click()
    await expect(agent.locator(".banner.ok")).to_contain_text("Đã thực hiện")
    await expect(agent.locator(".page-head")).to_contain_text("Lượt xử lý 2")
    await expect(agent.locator("#reopen-offer")).to_have_count(0)
    await agent.context.close()
