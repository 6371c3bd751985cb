"""The site icon: every page links it, and a browser's own `/favicon.ico` request finds it instead of a 404."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


async def test_favicon_ico_leads_to_the_icon(anonymous: httpx.AsyncClient) -> None:
    asked = await anonymous.get("/favicon.ico")
    assert asked.status_code == 301 and asked.headers["location"] == "/static/favicon.svg"
    icon = await anonymous.get("/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")


async def test_pages_link_the_icon_they_are_served(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/login")
    link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
    assert link is not None
    assert (await anonymous.get(link.group(1))).status_code == 200
