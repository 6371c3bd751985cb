"""A customer's files in a real browser (issue 13): an agent opens a complaint whose screenshot and invoice were
kept through the store, sees them listed, and downloads the invoice under its Vietnamese name."""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest
from browser_support import BROWSER_TEST, assert_accessible, open_signed_in
from playwright.async_api import Browser, expect
from samples import make_intake
from web_support import ARTIFACTS

from activities.attachments import AttachmentStore
from starter.client import ComplaintClient

pytestmark = [*BROWSER_TEST, pytest.mark.temporal, pytest.mark.postgres]

INVOICE_NAME = "Hóa đơn tháng 10 — Đặng Thị Ánh.pdf"
INVOICE = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Count 0 >> endobj\n"
INVOICE += b"trailer << /Root 1 0 R >>\n%%EOF\n"


def modem_png(width: int = 64, height: int = 16) -> bytes:
    """A real PNG (a green bar, the modem's lights): what a customer's screenshot is, made without a library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x20\xb0\x40" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def test_an_agent_downloads_an_attachment(
    browser: Browser,
    base_url: str,
    complaints: ComplaintClient,
    store: AttachmentStore,
    staff: dict[str, str],
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    state = await complaints.start(make_intake(subject="Modem mất tín hiệu, đã gửi ảnh và hóa đơn"))
    await store.put(state.complaint_id, "ảnh chụp modem.png", "image/png", modem_png())
    invoice = await store.put(state.complaint_id, INVOICE_NAME, "application/pdf", INVOICE)

    agent = await open_signed_in(browser, base_url, staff["agent"])
    await agent.goto(f"{base_url}/complaints/{state.complaint_id}")
    section = agent.locator("#attachments")
    await expect(section.get_by_role("heading", name="Tệp đính kèm")).to_be_visible()
    await expect(section.get_by_role("link")).to_have_text(["ảnh chụp modem.png", INVOICE_NAME])
    await expect(section).to_contain_text(f"PDF · {len(INVOICE)} B")
    await section.scroll_into_view_if_needed()
    await agent.screenshot(path=str(ARTIFACTS / "attachments.png"), full_page=True)
    await assert_accessible(agent, "a complaint page with its attachments")

    async with agent.expect_download() as downloading:
        await section.get_by_role("link", name=INVOICE_NAME).click()
    download = await downloading.value
    assert download.suggested_filename == INVOICE_NAME
    saved = ARTIFACTS / "attachment-download.pdf"
    await download.save_as(saved)
    assert await asyncio.to_thread(saved.read_bytes) == INVOICE
    assert download.url.endswith(f"/attachments/{invoice.attachment_id}")
    await expect(agent).to_have_url(f"{base_url}/complaints/{state.complaint_id}")  # still on the page
    await agent.context.close()
