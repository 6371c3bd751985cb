"""The customers' portal (issue 14) over HTTP against the real app, workflow and PostgreSQL: complain online with
a file, follow a case by number and contact or by signed link, answer a request, read the written reply, disagree,
withdraw; what the portal never shows; refusals in both languages; staff and portal kept apart."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from portal_support import (
    PNG,
    PNG_NAME,
    complain,
    complaint_form,
    hidden_fields,
    new_contact,
    portal_test_settings,
    submit,
)
from starlette.applications import Starlette
from temporalio.testing import WorkflowEnvironment
from web_support import SignIn

from activities.queries import ComplaintQueries
from domain.actions import Action, Door, Role
from domain.models import Stage
from starter.client import ComplaintClient
from web.app import build_web_app
from web.portal import PORTAL_COOKIE
from web.settings import WebSettings

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

AGENT = {"actor": "agent.lan", "role": Role.AGENT}
MANAGER = {"actor": "manager.hung", "role": Role.MANAGER}


@pytest.fixture(scope="module")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> WebSettings:
    return portal_test_settings(Path(tmp_path_factory.mktemp("portal-data")))


@pytest.fixture
async def customer(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def other_browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def case_number_of(pool: asyncpg.Pool, complaint_id: str) -> str:
    number = await pool.fetchval("SELECT case_number FROM complaints WHERE complaint_id = $1", complaint_id)
    assert isinstance(number, str)
    return number


async def test_complain_online_with_a_file_gives_the_case_number_and_the_receipt_at_once(
    customer: httpx.AsyncClient, queries: ComplaintQueries, pool: asyncpg.Pool
) -> None:
    phone, email = new_contact()
    cid = await complain(
        customer, files=[("files", (PNG_NAME, PNG, "image/png"))], **{"customer.phone": phone, "customer.email": email}
    )
    assert cid.startswith("portal-")
    received = await customer.get(f"/portal/case/{cid}/received")
    assert received.status_code == 200
    state = await queries.get_snapshot(cid)
    assert state is not None and state.intake.channel == "web" and state.intake.taken_by is None
    page = text_of(received.text)
    assert state.case_number in page and "Chúng tôi đã nhận được khiếu nại của Quý khách" in page
    assert state.deadlines.resolution_due_date.strftime("%d/%m/%Y") in page
    receipt = await customer.get(f"/portal/case/{cid}/documents/receipt_form/1")
    assert receipt.status_code == 200 and state.case_number in receipt.text
    assert "PHIẾU TIẾP NHẬN" in receipt.text.upper()
    # The receipt mail goes out by itself for a complaint from the web with an e-mail address (issue 13).
    outbox = await queries.outbox(cid)
    assert [(row["recipient"], row["template"], row["address"]) for row in outbox] == [("customer", "receipt", email)]
    # The file is kept, listed with the complaint, and the customer can download it again.
    assert [ref.name for ref in state.intake.attachments] == [PNG_NAME]
    ref = state.intake.attachments[0]
    download = await customer.get(f"/portal/case/{cid}/files/{ref.attachment_id}")
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment;")
    received_event = (await queries.timeline(cid))[0]
    assert (received_event.kind, received_event.actor, received_event.role) == ("received", "intake", "system")


async def test_a_double_submit_makes_one_complaint(customer: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    page = await customer.get("/portal/complain")
    hidden = hidden_fields(page.text, "/portal/complain")
    phone, _ = new_contact()
    form = complaint_form(**{"customer.phone": phone, "customer.email": ""})
    first = await submit(customer, "/portal/complain", "/portal/complain", form, files=[], hidden=hidden)
    second = await submit(customer, "/portal/complain", "/portal/complain", form, files=[], hidden=hidden)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    count = await pool.fetchval("SELECT count(*) FROM complaints WHERE customer ->> 'phone' = $1", phone)
    assert count == 1


async def test_the_form_shows_what_is_missing_and_refuses_a_file_off_the_list(customer: httpx.AsyncClient) -> None:
    form = complaint_form(**{"customer.phone": "", "customer.email": "", "subject": ""})
    response = await submit(customer, "/portal/complain", "/portal/complain", form, files=[])
    assert response.status_code == 422
    page = text_of(response.text)
    assert "Xin cho biết số điện thoại hoặc địa chỉ email" in page and "Bắt buộc." in page
    phone, _ = new_contact()
    virus = [("files", ("setup.exe", b"MZ\x90\x00", "application/x-msdownload"))]
    refused = await submit(
        customer, "/portal/complain", "/portal/complain", complaint_form(**{"customer.phone": phone}), files=virus
    )
    assert refused.status_code == 422 and "setup.exe" in html.unescape(refused.text)
    assert "không được nhận" in text_of(refused.text)


async def test_follow_by_case_number_and_phone_or_email_written_any_way(
    customer: httpx.AsyncClient, other_browser: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    phone, email = new_contact()
    cid = await complain(customer, **{"customer.phone": phone, "customer.email": email})
    number = await case_number_of(pool, cid)
    assert (await other_browser.get(f"/portal/case/{cid}")).headers["location"] == "/portal/follow"
    spaced_international = "+84 " + phone[1:4] + " " + phone[4:7] + " " + phone[7:]
    for contact in (spaced_international, email.upper(), phone):
        other_browser.cookies.clear()
        found = await submit(
            other_browser, "/portal/follow", "/portal/follow", {"case_number": number.lower(), "contact": contact}
        )
        assert found.status_code == 303 and found.headers["location"] == f"/portal/case/{cid}", contact
        page = await other_browser.get(f"/portal/case/{cid}")
        assert page.status_code == 200 and number in page.text
    cookie = next(c for c in other_browser.cookies.jar if c.name == PORTAL_COOKIE)
    assert cookie.path == "/portal" and cookie.has_nonstandard_attr("HttpOnly")


async def test_follow_refuses_a_wrong_contact_and_a_wrong_number_alike_in_either_language(
    customer: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    phone, _ = new_contact()
    cid = await complain(customer, **{"customer.phone": phone, "customer.email": ""})
    number = await case_number_of(pool, cid)
    wrong_contact = await submit(customer, "/portal/follow", "/portal/follow", {"case_number": number, "contact": ""})
    assert wrong_contact.status_code == 422  # nothing typed: asked for both
    answers = []
    for case_number, contact in ((number, "0900000000"), ("KN-2020-999999", phone), (number, "someone@example.vn")):
        response = await submit(
            customer, "/portal/follow", "/portal/follow", {"case_number": case_number, "contact": contact}
        )
        assert response.status_code == 422
        answers.append(re.search(r'role="alert">(.*?)<', response.text, re.S).group(1))  # type: ignore[union-attr]
    assert len(set(answers)) == 1 and "Không có khiếu nại nào" in answers[0]
    customer.cookies.set("lang", "en")
    english = await submit(customer, "/portal/follow", "/portal/follow", {"case_number": number, "contact": "0900"})
    assert "No case matches this number" in html.unescape(english.text)


async def test_a_signed_link_opens_its_case(
    other_browser: httpx.AsyncClient, customer: httpx.AsyncClient, web_settings: WebSettings
) -> None:
    cid = await complain(customer)
    token = web_settings.case_links().sign(cid, datetime.now(UTC))
    opened = await other_browser.get(f"/portal/c/{token}")
    assert opened.status_code == 303 and opened.headers["location"] == f"/portal/case/{cid}"
    assert (await other_browser.get(f"/portal/case/{cid}")).status_code == 200


async def test_answer_a_request_with_a_file_and_staff_see_it_unread(
    customer: httpx.AsyncClient, complaints: ComplaintClient, queries: ComplaintQueries, signed_in: SignIn
) -> None:
    cid = await complain(customer)
    await complaints.act(
        cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["documents", "logs"], "message": "Xin gửi ảnh chụp lỗi."}
    )
    page = await customer.get(f"/portal/case/{cid}")
    text = text_of(page.text)
    assert "Chúng tôi đang chờ thông tin từ Quý khách" in text and "Xin gửi ảnh chụp lỗi." in text
    assert "Tài liệu" in text and "Nhật ký, lịch sử giao dịch" in text
    answered = await submit(
        customer,
        f"/portal/case/{cid}",
        f"/portal/case/{cid}/answer",
        {"text": "Ảnh chụp lỗi đính kèm."},
        files=[("files", ("lỗi.png", PNG, "image/png"))],
    )
    assert answered.status_code == 303 and answered.headers["location"] == f"/portal/case/{cid}?done=answer"
    after = await customer.get(answered.headers["location"])
    assert "Cảm ơn Quý khách" in text_of(after.text) and "lỗi.png" in html.unescape(after.text)
    state = await queries.get_snapshot(cid)
    assert state is not None and state.stage is Stage.ANALYSING
    event = (await queries.timeline(cid))[-1]
    assert (event.kind, event.actor, event.door) == ("customer_info_received", "customer", "portal")
    assert event.role == "system"
    assert [ref["name"] for ref in event.data["attachments"]] == ["lỗi.png"]
    agent = await signed_in("agent")
    inbox = await agent.get("/?stage=all&unread=1")
    assert f"/complaints/{cid}" in inbox.text
    await agent.get(f"/complaints/{cid}")
    assert f"/complaints/{cid}" not in (await agent.get("/?stage=all&unread=1")).text


async def drive_to_answered(complaints: ComplaintClient, cid: str, cause: str = "Ổ cứng máy chủ bị lỗi.") -> None:
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT, data={"message": "Chúng tôi đang kiểm tra."})
    await complaints.act(cid, Action.CAUSE_IDENTIFIED, **AGENT, data={"cause": cause, "company_at_fault": True})
    await complaints.act(cid, Action.PROPOSE_PLAN, **AGENT, data={"plan": "Thay ổ cứng, bồi thường 1 tháng."})
    await complaints.act(cid, Action.MANAGER_APPROVAL, **MANAGER, data={"approved": True})
    await complaints.act(
        cid, Action.SEND_RESOLUTION, **AGENT, data={"reply": "Chúng tôi đã thay ổ cứng.", "channels": ["email"]}
    )


async def test_the_written_reply_then_disagreeing_asks_staff_to_reopen(
    customer: httpx.AsyncClient, complaints: ComplaintClient, queries: ComplaintQueries, signed_in: SignIn
) -> None:
    cid = await complain(customer)
    await drive_to_answered(complaints, cid)
    await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "Đã xử lý.", "lessons_learned": "Giám sát ổ."})
    page = await customer.get(f"/portal/case/{cid}")
    text = text_of(page.text)
    assert "Văn bản trả lời" in text and "Chúng tôi đã thay ổ cứng." in text
    assert f"/portal/case/{cid}/documents/written_reply/1" in page.text
    assert "/documents/fix_request/" not in page.text  # the departments' own document
    assert (await customer.get(f"/portal/case/{cid}/documents/fix_request/1")).status_code == 404
    reply = await customer.get(f"/portal/case/{cid}/documents/written_reply/1")
    assert reply.status_code == 200 and "Chúng tôi đã thay ổ cứng." in reply.text
    disagreed = await submit(
        customer, f"/portal/case/{cid}", f"/portal/case/{cid}/disagree", {"text": "Web vẫn chậm, tôi không đồng ý."}
    )
    assert disagreed.status_code == 303
    event = (await queries.timeline(cid))[-1]
    assert (event.kind, event.role, event.door) == ("customer_wrote", "system", "portal")
    agent = await signed_in("agent")
    assert f"/complaints/{cid}" in (await agent.get("/?stage=all&unread=1")).text
    staff_page = await agent.get(f"/complaints/{cid}")
    offer = re.search(r'id="reopen-offer">(.*?)</div>', staff_page.text, re.S)
    assert offer and "yêu cầu mở lại" in text_of(offer.group(1))


async def test_disagreeing_with_an_answer_not_yet_closed_asks_staff_to_reopen_too(
    customer: httpx.AsyncClient, complaints: ComplaintClient, signed_in: SignIn
) -> None:
    cid = await complain(customer)
    await drive_to_answered(complaints, cid)
    agent = await signed_in("agent")
    assert 'id="reopen-offer"' not in (await agent.get(f"/complaints/{cid}")).text
    disagreed = await submit(
        customer, f"/portal/case/{cid}", f"/portal/case/{cid}/disagree", {"text": "Tôi không đồng ý."}
    )
    assert disagreed.status_code == 303
    assert 'id="reopen-offer"' in (await agent.get(f"/complaints/{cid}")).text


async def test_an_answer_sent_twice_is_one_answer(
    customer: httpx.AsyncClient, complaints: ComplaintClient, queries: ComplaintQueries
) -> None:
    cid = await complain(customer)
    await complaints.act(cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["phone"], "message": "Xin số máy bàn."})
    hidden = hidden_fields((await customer.get(f"/portal/case/{cid}")).text, f"/portal/case/{cid}/answer")
    for _ in range(2):
        sent = await submit(customer, "", f"/portal/case/{cid}/answer", {"text": "028 3822 0000"}, [], hidden)
        assert sent.status_code == 303
    kinds = [event.kind for event in await queries.timeline(cid)]
    assert kinds.count("customer_info_received") == 1


async def test_withdraw(customer: httpx.AsyncClient, queries: ComplaintQueries) -> None:
    cid = await complain(customer)
    response = await submit(
        customer, f"/portal/case/{cid}", f"/portal/case/{cid}/withdraw", {"text": "Đã tự khắc phục được."}
    )
    assert response.status_code == 303
    state = await queries.get_snapshot(cid)
    assert state is not None and state.stage is Stage.WITHDRAWN
    page = await customer.get(f"/portal/case/{cid}")
    assert "Đã rút theo yêu cầu của Quý khách" in text_of(page.text)
    assert f"/portal/case/{cid}/withdraw" not in page.text


async def test_the_portal_never_shows_notes_causes_not_yet_told_or_staff_names(
    customer: httpx.AsyncClient, complaints: ComplaintClient
) -> None:
    cid = await complain(customer)
    note, cause = "GHI CHÚ NỘI BỘ: khách này hay khiếu nại", "NGUYÊN NHÂN NỘI BỘ: cấu hình sai của kỹ thuật viên"
    await complaints.act(cid, Action.ACKNOWLEDGE, **AGENT, data={"message": "Đã nhận."})
    await complaints.act(cid, Action.ADD_NOTE, **AGENT, data={"text": note})
    await complaints.act(cid, Action.CAUSE_IDENTIFIED, **AGENT, data={"cause": cause, "company_at_fault": False})
    await complaints.act(cid, Action.TRANSFER, **AGENT, data={"to_department": "technical", "reason": "Chuyển KT."})
    page = (await customer.get(f"/portal/case/{cid}")).text
    for secret in (note, cause, "agent.lan", "Chuyển KT.", "Kỹ thuật", "technical"):
        assert secret not in html.unescape(page), secret
    assert "Chúng tôi đang xử lý khiếu nại của Quý khách" in text_of(page)


async def test_a_refused_action_is_worded_in_the_readers_language(
    customer: httpx.AsyncClient, complaints: ComplaintClient
) -> None:
    cid = await complain(customer)
    await complaints.act(cid, Action.REQUEST_INFO, **AGENT, data={"missing": ["logs"], "message": "Xin gửi nhật ký."})
    page = (await customer.get(f"/portal/case/{cid}")).text
    stale = hidden_fields(page, f"/portal/case/{cid}/answer")
    stale_too = hidden_fields((await customer.get(f"/portal/case/{cid}")).text, f"/portal/case/{cid}/answer")
    await complaints.act(  # the customer answered by mail meanwhile: the page's form is stale
        cid,
        Action.CUSTOMER_INFO_RECEIVED,
        actor="mail",
        role=Role.SYSTEM,
        door=Door.EMAIL,
        data={"summary": "Nhật ký gửi qua thư."},
    )
    vi = await submit(customer, "", f"/portal/case/{cid}/answer", {"text": "Trả lời."}, files=[], hidden=stale)
    assert vi.status_code == 409
    assert "Việc này không còn thực hiện được" in text_of(vi.text) and "Chúng tôi đang xử lý" in text_of(vi.text)
    customer.cookies.set("lang", "en")
    en = await submit(customer, "", f"/portal/case/{cid}/answer", {"text": "Answer."}, files=[], hidden=stale_too)
    assert en.status_code == 409
    assert "This is no longer possible: your complaint is now “We are working on your complaint”." in html.unescape(
        en.text
    )
    assert "not possible while" not in en.text  # never the workflow's English sentence


async def test_staff_and_portal_are_kept_apart(customer: httpx.AsyncClient, signed_in: SignIn, app: Starlette) -> None:
    cid = await complain(customer)
    agent = await signed_in("agent")
    assert (await agent.get(f"/portal/case/{cid}")).headers["location"] == "/portal/follow"  # a staff session: nothing
    staff_page = await customer.get(f"/complaints/{cid}")  # a portal grant opens no staff page
    assert staff_page.status_code == 303 and staff_page.headers["location"].startswith("/login")
    for path in ("/portal", "/portal/complain", "/portal/follow", f"/portal/case/{cid}", "/portal/nowhere"):
        page = await customer.get(path)
        assert "/complaints/new" not in page.text and 'href="/"' not in page.text, path
        assert "complaints_session" not in page.headers.get("set-cookie", ""), path
    missing = await customer.get("/portal/nowhere")
    assert missing.status_code == 404 and "portal.css" in missing.text
    for page in (missing, await customer.get("/portal/complain")):  # the same security headers as every page
        assert "script-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_a_post_without_the_portal_cookie_token_is_refused(customer: httpx.AsyncClient) -> None:
    page = await customer.get("/portal/follow")
    hidden = hidden_fields(page.text, "/portal/follow")
    customer.cookies.clear()
    response = await customer.post("/portal/follow", data={**hidden, "case_number": "KN-2026-000001", "contact": "09"})
    assert response.status_code == 403 and "portal.css" in response.text


async def test_the_same_text_policy_as_every_door_worded_for_the_customer(customer: httpx.AsyncClient) -> None:
    turned = complaint_form(description="Hóa đơn \u202egpj.exe")
    refused = await submit(customer, "/portal/complain", "/portal/complain", turned, files=[])
    assert refused.status_code == 422 and "Không được chứa ký tự đổi chiều văn bản" in text_of(refused.text)
    cid = await complain(customer)
    answer = await submit(customer, f"/portal/case/{cid}", f"/portal/case/{cid}/withdraw", {"text": "Rút\u202e lại"})
    assert answer.status_code == 409
    assert "Nội dung không được chấp nhận: Không được chứa ký tự đổi chiều văn bản" in text_of(answer.text)


async def test_while_the_records_are_away_the_portal_says_try_again_on_its_own_page(
    complaints: ComplaintClient, dead_pool: asyncpg.Pool, web_settings: WebSettings
) -> None:
    dead_app = build_web_app(complaints, dead_pool, web_settings)
    transport = httpx.ASGITransport(app=dead_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        form = await client.get("/portal/follow")  # the form itself needs no records
        assert form.status_code == 200
        hidden = hidden_fields(form.text, "/portal/follow")
        lookup = await client.post("/portal/follow", data={**hidden, "case_number": "KN-2026-000001", "contact": "09"})
        assert lookup.status_code == 503 and lookup.headers["retry-after"]
        assert "Hệ thống khiếu nại tạm thời không truy cập được" in text_of(lookup.text)
        assert "portal.css" in lookup.text and "/complaints/new" not in lookup.text


async def test_without_a_worker_the_customer_is_asked_to_send_again_and_nothing_is_lost(
    time_env: WorkflowEnvironment, pool: asyncpg.Pool, web_settings: WebSettings
) -> None:
    """Temporal takes the complaint but no worker answers in time: the form comes back as typed, with the same
    one-time id, so sending it again once the workers are back is the same complaint."""
    nobody = ComplaintClient(time_env.client, f"no-worker-{uuid.uuid4().hex[:8]}")
    stalled = build_web_app(nobody, pool, web_settings.model_copy(update={"portal_temporal_timeout_seconds": 1.0}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stalled), base_url="http://testserver") as client:
        page = await client.get("/portal/complain")
        hidden = hidden_fields(page.text, "/portal/complain")
        response = await submit(client, "", "/portal/complain", complaint_form(), files=[], hidden=hidden)
        assert response.status_code == 503
        assert "Xin gửi lại biểu mẫu sau ít phút" in text_of(response.text)
        assert hidden_fields(response.text, "/portal/complain")["stamp"] == hidden["stamp"]
        assert "Trần Thị Bích" in response.text


async def test_a_shared_device_forgets_the_cases_it_opened(customer: httpx.AsyncClient) -> None:
    cid = await complain(customer)
    page = await customer.get(f"/portal/case/{cid}")
    token = hidden_fields(page.text, f"/portal/case/{cid}/withdraw")["csrf_token"]
    left = await customer.post("/portal/leave", data={"csrf_token": token})
    assert left.status_code == 303 and left.headers["location"] == "/portal?done=left"
    assert "Thiết bị này không còn hiển thị khiếu nại" in text_of((await customer.get(left.headers["location"])).text)
    assert (await customer.get(f"/portal/case/{cid}")).headers["location"] == "/portal/follow"
