"""A complaint's files on its page and as downloads (issue 13): listed for staff, served only to signed-in staff
as attachments that no browser renders as a page of the site, under their Vietnamese names, never cached."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import asyncpg
import httpx
import pytest
from web_support import SignIn, take_in

from activities.attachments import AttachmentStore
from domain.attachments import AttachmentRef
from starter.codec import EncryptionKey, KeyRing
from web.routes.attachments import ascii_file_name, content_disposition

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

INVOICE_NAME = "Hóa đơn tháng 10 — Đặng Thị Ánh.pdf"
INVOICE = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


async def complaint_with_invoice(
    signed_in: SignIn, store: AttachmentStore
) -> tuple[httpx.AsyncClient, str, AttachmentRef]:
    agent = await signed_in("agent")
    complaint_id = await take_in(agent)
    return agent, complaint_id, await store.put(complaint_id, INVOICE_NAME, "application/pdf", INVOICE)


async def test_the_page_lists_the_files_and_each_downloads(signed_in: SignIn, store: AttachmentStore) -> None:
    agent, complaint_id, ref = await complaint_with_invoice(signed_in, store)
    screenshot = await store.put(complaint_id, "ảnh chụp modem.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 3000)
    page = await agent.get(f"/complaints/{complaint_id}")
    assert page.status_code == 200
    section = re.search(r'<section class="card" id="attachments">(.*?)</section>', page.text, re.S)
    assert section, "the complaint page has its attachments' section"
    text = html.unescape(section.group(1))
    assert INVOICE_NAME in text and "ảnh chụp modem.png" in text
    assert f"PDF · {len(INVOICE)} B" in text and "PNG · 2,9 KB" in text  # the page is in Vietnamese by default
    assert f'href="/complaints/{complaint_id}/attachments/{ref.attachment_id}" download' in text
    assert text.index(INVOICE_NAME) < text.index("ảnh chụp modem.png")  # oldest first

    download = await agent.get(f"/complaints/{complaint_id}/attachments/{ref.attachment_id}")
    assert download.status_code == 200
    assert download.content == INVOICE
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers.get_list("x-content-type-options") == ["nosniff"]
    assert download.headers.get_list("cache-control") == ["private, no-store"]
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Hoa don thang 10 — Dang Thi Anh.pdf"'.replace("—", "_"))
    encoded = re.search(r"filename\*=UTF-8''(\S+)$", disposition)
    assert encoded and unquote(encoded.group(1)) == INVOICE_NAME
    assert disposition.isascii()

    png = await agent.get(f"/complaints/{complaint_id}/attachments/{screenshot.attachment_id}")
    assert (png.status_code, png.headers["content-type"]) == (200, "image/png")


async def test_only_signed_in_staff_download(
    signed_in: SignIn, store: AttachmentStore, anonymous: httpx.AsyncClient
) -> None:
    _, complaint_id, ref = await complaint_with_invoice(signed_in, store)
    url = f"/complaints/{complaint_id}/attachments/{ref.attachment_id}"
    response = await anonymous.get(url)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert INVOICE not in response.content
    for role in ("manager", "admin"):
        assert (await (await signed_in(role)).get(url)).content == INVOICE


async def test_another_complaints_file_is_not_found(signed_in: SignIn, store: AttachmentStore) -> None:
    agent, complaint_id, ref = await complaint_with_invoice(signed_in, store)
    other = await take_in(agent)
    for url in (
        f"/complaints/{other}/attachments/{ref.attachment_id}",
        f"/complaints/{complaint_id}/attachments/{'0' * 32}",
        f"/complaints/{complaint_id}/attachments/..%2F{ref.attachment_id}",
        f"/complaints/no%20such/attachments/{ref.attachment_id}",
    ):
        response = await agent.get(url)
        assert response.status_code == 404, url
        assert INVOICE not in response.content
        assert "Không có tệp đính kèm này." in response.text or "Trang này không tồn tại." in response.text
    page = await agent.get(f"/complaints/{other}")
    assert ref.attachment_id not in page.text


async def test_a_stored_type_off_the_allowlist_is_served_as_bytes(
    signed_in: SignIn, store: AttachmentStore, pool: asyncpg.Pool
) -> None:
    """Should a row ever hold a type the list no longer has (the list shrank), it is still only a download."""
    agent, complaint_id, ref = await complaint_with_invoice(signed_in, store)
    await pool.execute("UPDATE attachments SET content_type = 'text/html' WHERE attachment_id = $1", ref.attachment_id)
    response = await agent.get(f"/complaints/{complaint_id}/attachments/{ref.attachment_id}")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")


async def test_a_file_under_a_key_the_server_lacks_is_a_clear_error(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    complaint_id = await take_in(agent)
    foreign = AttachmentStore(pool, KeyRing([EncryptionKey.generate("retired-key")]))
    ref = await foreign.put(complaint_id, "old.txt", "text/plain", b"written under a key since dropped")
    response = await agent.get(f"/complaints/{complaint_id}/attachments/{ref.attachment_id}")
    assert response.status_code == 500
    assert "Máy chủ này không có khóa để giải mã tệp này" in response.text
    assert b"written under a key" not in response.content


def test_download_names() -> None:
    assert ascii_file_name("Đơn khiếu nại của Nguyễn Văn Ân.pdf") == "Don khieu nai cua Nguyen Van An.pdf"
    assert ascii_file_name("新しい.png") == "___.png"
    assert ascii_file_name('a"b;c%d\\e.txt') == "a_b_c_d_e.txt"
    assert (
        content_disposition("ảnh 1.png") == "attachment; filename=\"anh 1.png\"; filename*=UTF-8''%E1%BA%A3nh%201.png"
    )
