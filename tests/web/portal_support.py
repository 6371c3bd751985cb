"""What the portal's tests share: reading a portal form's hidden fields, sending it as a browser would, and a
complaint made online."""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from web_support import TEMPORAL_UI

from web.settings import WebSettings

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PNG_NAME = "ảnh lỗi trang web.png"


def hidden_fields(page: str, action: str) -> dict[str, str]:
    """The CSRF token and stamp of the form posting to `action` on `page`."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}"(.*?)</form>', page, re.S)
    assert form, f"no form posting to {action}"
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form.group(1)))
    assert {"csrf_token", "stamp"} <= set(fields), fields
    return {name: html.unescape(value) for name, value in fields.items()}


def complaint_form(**overrides: str) -> dict[str, str]:
    values = {
        "customer.name": "Trần Thị Bích",
        "customer.phone": "0912 345 678",
        "customer.email": "bich.tran@example.vn",
        "service": "Web hosting",
        "subject": "Trang web không truy cập được",
        "description": "Từ 8 giờ sáng nay trang web của tôi báo lỗi 503.",
        "website": "",
    }
    values.update(overrides)
    return values


async def submit(
    client: httpx.AsyncClient,
    page_path: str,
    action: str,
    data: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    hidden: dict[str, str] | None = None,
) -> httpx.Response:
    """Open `page_path`, then post its form to `action` with `data` (and files: a multipart post)."""
    if hidden is None:
        page = await client.get(page_path)
        assert page.status_code == 200, page.text
        hidden = hidden_fields(page.text, action)
    form: dict[str, Any] = {**hidden, **data}
    if files is not None:
        return await client.post(action, data=form, files=files)
    return await client.post(action, data=form)


async def complain(
    client: httpx.AsyncClient, files: list[tuple[str, tuple[str, bytes, str]]] | None = None, **overrides: str
) -> str:
    """A complaint sent on the portal; its complaint id (the browser holds a grant for it afterwards)."""
    response = await submit(
        client, "/portal/complain", "/portal/complain", complaint_form(**overrides), files=files or []
    )
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/portal/case/([^/]+)/received", response.headers["location"])
    assert found
    return found.group(1)


def new_contact() -> tuple[str, str]:
    """A phone number and an e-mail address no other test uses."""
    digits = str(uuid.uuid4().int)[:8]
    return f"09{digits}", f"k{digits}@example.vn"


def portal_test_settings(data_dir: Path) -> WebSettings:
    """A portal with no bot-trap clock (tests post at once) and limits far above what one test module sends from
    one address: the clock and the limits have their own tests (test_portal_abuse.py)."""
    return WebSettings(
        data_dir=data_dir,
        temporal_ui=TEMPORAL_UI,
        portal_form_min_seconds=0,
        portal_complaints_per_address=1000,
        portal_lookups_per_address=1000,
        portal_lookups_per_case=1000,
    )
