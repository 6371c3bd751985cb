"""The web form speaks of departments by name, from the company profile, and refuses one the company lacks.

The profile is the client's (`ComplaintClient.company`, from `COMPLAINTS_COMPANY_PROFILE`): the intake form and
the transfer form offer its departments in a select, the inbox, its filter and the complaint page show names in
the page's language, and a department sent that the company does not have starts nothing."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from web_support import act, csrf_of, intake_form, sign_in, take_in

from domain.company import parse_company_profile
from starter.client import ComplaintClient
from web.app import build_web_app
from web.settings import WebSettings

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

SAO_MAI = """
legal_name = "Công ty Cổ phần Lưu trữ Sao Mai"
address = "88 Nguyễn Huệ, Quận 1, TP. Hồ Chí Minh"

[[departments]]
code = "customer_care"
name_vi = "Phòng Chăm sóc Sao Mai"
name_en = "Sao Mai Care Desk"
mailbox = "cskh@saomai.vn"
head_mailbox = "truong.cskh@saomai.vn"

[[departments]]
code = "dns"
name_vi = "Phòng Tên miền"
name_en = "Domain Desk"
mailbox = "dns@saomai.vn"
head_mailbox = "truong.dns@saomai.vn"
"""


@pytest.fixture
async def agent(
    complaints: ComplaintClient, pool: asyncpg.Pool, web_settings: WebSettings, staff: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """An agent on a web form whose company is Sao Mai (its own profile, not the built-in one)."""
    company = parse_company_profile(SAO_MAI, "saomai.toml")
    app = build_web_app(ComplaintClient(complaints.client, complaints.task_queue, company=company), pool, web_settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await sign_in(client, staff["agent"])
        yield client


async def test_pages_show_the_profiles_department_names(agent: httpx.AsyncClient) -> None:
    form = html.unescape((await agent.get("/complaints/new")).text)
    assert '<option value="dns">Phòng Tên miền</option>' in form
    assert "billing" not in form, "only the company's departments are offered"

    cid = await take_in(agent, department="dns")
    page = html.unescape((await agent.get(f"/complaints/{cid}")).text)
    assert "<strong>Phòng Tên miền</strong>" in page
    inbox = html.unescape((await agent.get("/", params={"department": "dns"})).text)
    assert "<td>Phòng Tên miền</td>" in inbox and ">Phòng Tên miền</option>" in inbox
    assert "<td>dns</td>" not in inbox

    assert (await act(agent, cid, "transfer", {"to_department": "customer_care", "reason": "nhầm"})).status_code == 303
    english = html.unescape((await agent.get(f"/complaints/{cid}", params={"lang": "en"})).text)
    assert "<strong>Sao Mai Care Desk</strong>" in english
    assert "<dd>Sao Mai Care Desk</dd>" in english, "the transfer in the timeline names the department"
    inbox = html.unescape((await agent.get("/", params={"department": "customer_care"})).text)
    assert "<td>Sao Mai Care Desk</td>" in inbox


async def test_an_unknown_department_is_refused_at_the_field_and_starts_nothing(
    agent: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    page = await agent.get("/complaints/new")
    typed = intake_form(department="billing")  # a department of the built-in profile, not of Sao Mai
    refused = await agent.post("/complaints/new", data={"csrf_token": csrf_of(page.text), **typed})
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert 'id="error-department"' in text and "Công ty không có bộ phận “billing”." in text
    started = await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", typed["complaint_key"])
    assert started == 0

    cid = await take_in(agent)
    transfer = await act(agent, cid, "transfer", {"to_department": "billing", "reason": "cước"})
    assert transfer.status_code == 409
    assert "“Chuyển đến bộ phận”: công ty không có bộ phận “billing”." in html.unescape(transfer.text)
    kinds = await pool.fetch("SELECT kind FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", cid)
    assert [row["kind"] for row in kinds] == ["received"]
