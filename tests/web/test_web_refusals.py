"""The admins' list of record refusals over HTTP: a note PostgreSQL refuses for good (a CHECK constraint injected into
this module's database, as in tests/workflows/test_record_refusals.py), sent through the web form, is listed with
its case number and event, never with the refused text; agents and managers may not see the list.

The browser test at the end opens the same page in Chromium and leaves artifacts/refusals.png (and -en)."""

from __future__ import annotations

import html
import re
from typing import Any

import asyncpg
import httpx
import pytest
from browser_support import NEEDS_CHROMIUM, assert_accessible, open_signed_in
from playwright.async_api import Browser, expect
from samples import make_intake
from web_support import ARTIFACTS, SignIn, act, csrf_of, intake_form, take_in

from domain.actions import Action, Role
from starter.client import ActionFailed, ComplaintClient

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

SECRET = "Khách đọc số thẻ 4111 1111 poison"
"""What an agent typed and PostgreSQL refused: it may be personal data, so it never appears on the list."""
AGENT: dict[str, Any] = {"actor": "agent.lan", "role": Role.AGENT}


@pytest.fixture(scope="module", autouse=True)
async def poisoned(pool: asyncpg.Pool) -> None:
    """Data the record refuses for good (SQLSTATE 23514), as a value out of PostgreSQL's range would be."""
    await pool.execute(
        "ALTER TABLE complaint_events ADD CONSTRAINT poisoned_note"
        " CHECK (coalesce(data->>'text', '') NOT LIKE '%poison%')"
    )
    await pool.execute("ALTER TABLE complaints ADD CONSTRAINT poisoned_subject CHECK (subject NOT LIKE '%poison%')")


def listed(page: str) -> list[str]:
    """The table's rows as text, tags dropped and spaces squeezed."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in rows]


async def test_a_refused_note_is_listed_for_admins_without_its_text(
    signed_in: SignIn, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    admin = await signed_in("admin")
    empty = await admin.get("/refusals")
    assert empty.status_code == 200
    assert "Chưa có lượt ghi hồ sơ nào bị từ chối." in empty.text
    assert 'href="/refusals" aria-current="page"' in empty.text, "in the admin's navigation, next to the users"

    agent = await signed_in("agent")
    complaint_id = await take_in(agent)
    case_number = await pool.fetchval("SELECT case_number FROM complaints WHERE complaint_id = $1", complaint_id)
    refused = await act(agent, complaint_id, "add_note", {"text": SECRET})
    assert refused.status_code == 409, refused.text
    assert "listed for admins" in html.unescape(refused.text)
    assert (await act(agent, complaint_id, "add_note", {"text": "Ghi chú bình thường"})).status_code == 303
    assert [event.kind for event in (await complaints.state(complaint_id)).timeline] == ["received", "add_note"]

    page = await admin.get("/refusals")
    assert page.status_code == 200
    rows = listed(page.text)
    assert len(rows) == 1
    assert re.fullmatch(
        rf"\d\d/\d\d/\d{{4}} \d\d:\d\d {case_number} Ghi chú sự kiện thứ 2 của khiếu nại CheckViolationError 23514",
        rows[0],
    ), rows
    assert f'<a class="case-number" href="/complaints/{complaint_id}">{case_number}</a>' in page.text
    assert "1 lượt bị từ chối gần nhất, mới nhất trước" in page.text
    for secret in ("poison", "4111", "Khách đọc"):
        assert secret not in page.text, "the refused data itself is never shown"

    english = await admin.get("/refusals?lang=en")
    assert "The latest 1 refusal, newest first" in english.text
    in_english = listed(english.text)[0]
    assert in_english.endswith(f"{case_number} Note event 2 of the complaint CheckViolationError 23514"), in_english
    explained = html.unescape(english.text)
    assert "PostgreSQL refused these writes to a complaint's record for good" in explained
    assert "a refused action was not applied" in explained and ">Refused writes</a>" in explained


async def test_a_refused_start_is_listed_without_a_case_number_newest_first(
    signed_in: SignIn, complaints: ComplaintClient
) -> None:
    noted = await complaints.start(make_intake())
    with pytest.raises(ActionFailed):
        await complaints.act(noted.complaint_id, Action.ADD_NOTE, **AGENT, data={"text": SECRET})
    with pytest.raises(ActionFailed):
        await complaints.start(make_intake(subject="poison in the subject"))
    page = await (await signed_in("admin")).get("/refusals?lang=en")
    rows = listed(page.text)
    assert rows[0].endswith(
        "none: its start was refused Complaint received event 1 of the complaint CheckViolationError 23514"
    ), rows
    assert rows[1].endswith(f"{noted.case_number} Note event 2 of the complaint CheckViolationError 23514"), rows
    assert "poison" not in page.text


@pytest.mark.parametrize("role", ["agent", "manager"])
async def test_agents_and_managers_may_not_see_the_refusals(signed_in: SignIn, role: str) -> None:
    client = await signed_in(role)
    response = await client.get("/refusals?lang=en")
    assert response.status_code == 403
    assert "Only an administrator may see the refused record writes." in response.text
    assert response.headers["x-frame-options"] == "DENY"
    inbox = await client.get("/")
    assert 'href="/refusals"' not in inbox.text and 'href="/users"' not in inbox.text


async def test_signed_out_visitors_are_sent_to_sign_in(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/refusals")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Frefusals"


@pytest.mark.browser
@NEEDS_CHROMIUM
async def test_the_refusals_page_in_the_browser(
    browser: Browser,
    base_url: str,
    complaints: ComplaintClient,
    staff: dict[str, str],
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    started = await complaints.start(make_intake())
    with pytest.raises(ActionFailed):
        await complaints.act(started.complaint_id, Action.ADD_NOTE, **AGENT, data={"text": SECRET})
    admin = await open_signed_in(browser, base_url, staff["admin"])
    await admin.get_by_role("link", name="Tiếp nhận mới").first.click()
    await admin.get_by_label("Đường dây nóng").check()
    await admin.get_by_label("Tên khách hàng").fill("Lê Thị Hoa")
    await admin.get_by_label("Điện thoại").fill("0987 654 321")
    await admin.get_by_label("Tiêu đề").fill("Cước poison bị tính hai lần")
    await admin.get_by_label("Nội dung khiếu nại").fill("Khách hàng gọi lên báo bị trừ tiền hai lần.")
    await admin.get_by_role("button", name="Tiếp nhận khiếu nại").click()
    await expect(admin.get_by_role("alert")).to_contain_text("Khiếu nại chưa được tiếp nhận")
    await expect(admin.get_by_role("alert")).to_contain_text("it is listed for admins")
    await admin.screenshot(path=str(ARTIFACTS / "intake-refused.png"), full_page=True)
    await assert_accessible(admin, "the intake form refused")
    await admin.get_by_role("link", name="Ghi bị từ chối").click()
    await expect(admin.get_by_role("heading", name="Lượt ghi hồ sơ bị từ chối")).to_be_visible()
    rows = admin.locator("table.refusals tbody tr")
    await expect(rows.nth(0)).to_contain_text("chưa có: lượt tiếp nhận bị từ chối")
    await expect(rows.nth(1)).to_contain_text(started.case_number)
    await expect(rows.nth(1)).to_contain_text("CheckViolationError")
    await admin.screenshot(path=str(ARTIFACTS / "refusals.png"), full_page=True)
    await assert_accessible(admin, "the refused writes")
    await admin.get_by_role("link", name="English").click()
    await expect(admin.get_by_role("heading", name="Refused record writes")).to_be_visible()
    await admin.screenshot(path=str(ARTIFACTS / "refusals-en.png"), full_page=True)


async def test_a_refused_intake_says_so_and_may_be_sent_again_corrected(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    form = intake_form(subject="Hóa đơn poison")
    page = await agent.get("/complaints/new?lang=en")
    refused = await agent.post("/complaints/new", data={"csrf_token": csrf_of(page.text), **form})
    assert refused.status_code == 409, refused.text
    shown = html.unescape(refused.text)
    assert "the record refused this received (CheckViolationError, SQLSTATE 23514); it is listed for admins" in shown
    assert "The complaint was not taken in: its record was refused." in shown
    assert 'value="Hóa đơn poison"' in shown, "what the agent typed stays in the form, to be corrected"
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", form["complaint_key"]) == 0

    corrected = await agent.post(
        "/complaints/new", data={"csrf_token": csrf_of(page.text), **form, "subject": "Hóa đơn bị tính hai lần"}
    )
    assert corrected.status_code == 303, corrected.text
    assert corrected.headers["location"] == f"/complaints/{form['complaint_key']}/received"
    case_number = await pool.fetchval(
        "SELECT case_number FROM complaints WHERE complaint_id = $1", form["complaint_key"]
    )
    rows = listed((await (await signed_in("admin")).get("/refusals?lang=en")).text)
    assert f"{case_number} Complaint received event 1 of the complaint CheckViolationError 23514" in rows[0], rows
