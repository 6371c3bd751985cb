"""The web form over HTTP, against a real worker on the time-skipping server and the embedded PostgreSQL:
sign-in and roles, CSRF, bad input, and the actions going through the workflow's own checks."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from web_support import PASSWORD, TEMPORAL_UI, SignIn, act, csrf_of, intake_form, request_id_of, sign_in, take_in

import web.app
import web.routes.complaints
from domain.actions import Action, Role
from domain.calendar import BUSINESS_TZ
from starter.client import ActionFailed, ComplaintClient
from web.app import build_web_app
from web.forms import MAX_BODY_BYTES
from web.inbox import InboxFilter
from web.query import QueryRefused
from web.settings import WebSettings
from web.users import add_user

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


async def kinds(pool: asyncpg.Pool, complaint_id: str) -> list[str]:
    rows = await pool.fetch("SELECT kind FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", complaint_id)
    return [row["kind"] for row in rows]


# ---- sign-in ----


async def test_pages_need_a_session(anonymous: httpx.AsyncClient) -> None:
    for path in ("/", "/complaints/new", "/complaints/anything", "/users", "/?stage=closed"):
        response = await anonymous.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=%2F"), path
    assert (await anonymous.get("/login")).status_code == 200
    assert (await anonymous.get("/healthz")).text == "ok"
    assert (await anonymous.get("/static/style.css")).status_code == 200


async def test_posts_need_a_session(anonymous: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    before = await pool.fetchval("SELECT count(*) FROM complaints")
    response = await anonymous.post("/complaints/new", data=intake_form())
    assert response.status_code == 403
    response = await anonymous.post("/complaints/x/actions/acknowledge", data={"request_id": "web:1"})
    assert response.status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM complaints") == before


async def test_sign_in_and_out(anonymous: httpx.AsyncClient, staff: dict[str, str]) -> None:
    page = await anonymous.get("/login?next=/complaints/new")
    wrong = await anonymous.post(
        "/login", data={"csrf_token": csrf_of(page.text), "username": staff["agent"], "password": "not it at all"}
    )
    assert wrong.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in wrong.text
    unknown = await anonymous.post(
        "/login", data={"csrf_token": csrf_of(wrong.text), "username": "nobody", "password": "whatever!"}
    )
    assert unknown.status_code == 401

    page = await anonymous.get("/login?next=/complaints/new")
    token_before = csrf_of(page.text)
    ok = await anonymous.post(
        "/login",
        data={"csrf_token": token_before, "username": staff["agent"], "password": PASSWORD, "next": "/complaints/new"},
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == "/complaints/new"
    inbox = await anonymous.get("/")
    assert inbox.status_code == 200
    assert csrf_of(inbox.text) != token_before, "signing in must rotate the CSRF token"

    out = await anonymous.post("/logout", data={"csrf_token": csrf_of(inbox.text)})
    assert out.status_code == 303
    assert (await anonymous.get("/")).status_code == 303


async def test_sign_in_never_redirects_off_site(anonymous: httpx.AsyncClient, staff: dict[str, str]) -> None:
    page = await anonymous.get("/login")
    response = await anonymous.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "username": staff["agent"],
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


# ---- CSRF ----


async def test_forms_without_the_csrf_token_are_refused(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    before = await kinds(pool, cid)

    missing = await agent.post("/complaints/new", data=intake_form())
    forged = await agent.post("/complaints/new", data={**intake_form(), "csrf_token": "forged"})
    assert missing.status_code == forged.status_code == 403
    assert "Biểu mẫu đã hết hạn" in forged.text

    page = await agent.get(f"/complaints/{cid}")
    request_id = request_id_of(page.text, "acknowledge")
    no_token = await agent.post(f"/complaints/{cid}/actions/acknowledge", data={"request_id": request_id})
    wrong = await agent.post(
        f"/complaints/{cid}/actions/acknowledge", data={"request_id": request_id, "csrf_token": "x" * 43}
    )
    assert no_token.status_code == wrong.status_code == 403
    assert (await agent.post("/logout", data={})).status_code == 403
    assert await kinds(pool, cid) == before


async def test_another_sessions_token_is_refused(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent, other = await signed_in("agent"), await signed_in("agent")
    cid = await take_in(agent)
    page = await agent.get(f"/complaints/{cid}")
    response = await other.post(
        f"/complaints/{cid}/actions/acknowledge",
        data={"csrf_token": csrf_of(page.text), "request_id": request_id_of(page.text, "acknowledge")},
    )
    assert response.status_code == 403
    assert await kinds(pool, cid) == ["received"]


# ---- intake ----


async def test_intake_shows_the_case_with_its_due_dates_and_receipt_form(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    page = await agent.get("/complaints/new")
    form = intake_form(channel="branch")
    response = await agent.post("/complaints/new", data={"csrf_token": csrf_of(page.text), **form})
    assert response.status_code == 303
    received = await agent.get(response.headers["location"])
    assert received.status_code == 200
    case_number = re.search(r"KN-\d{4}-\d{6}", received.text)
    assert case_number
    assert "Hạn phản hồi đầu tiên" in received.text and "Hạn giải quyết" in received.text
    receipt = re.search(r'href="(/complaints/[^"]+/documents/receipt_form/1)"', received.text)
    assert receipt
    document = await agent.get(receipt.group(1))
    assert document.status_code == 200
    assert "PHIẾU TIẾP NHẬN KHIẾU NẠI" in document.text
    assert case_number.group(0) in document.text


async def test_intake_double_submit_takes_one_complaint(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    page = await agent.get("/complaints/new")
    form = {"csrf_token": csrf_of(page.text), **intake_form()}
    first = await agent.post("/complaints/new", data=form)
    second = await agent.post("/complaints/new", data=form)
    assert first.headers["location"] == second.headers["location"]
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE complaint_id = $1", form["complaint_key"]) == 1


async def test_intake_errors_are_shown_next_to_their_fields(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    before = await pool.fetchval("SELECT count(*) FROM complaints")
    page = await agent.get("/complaints/new")
    token = csrf_of(page.text)

    blank = await agent.post(
        "/complaints/new",
        data={"csrf_token": token, **intake_form(**{"customer.name": "", "customer.phone": "", "subject": " "})},
    )
    assert blank.status_code == 422
    assert re.search(r'id="error-customer.name">Bắt buộc.<', blank.text)
    assert re.search(r'id="error-subject">Bắt buộc.<', blank.text)
    assert re.search(r'id="error-customer.phone">Cần ít nhất số điện thoại, email hoặc địa chỉ.<', blank.text)
    assert "Hóa đơn tháng 10" not in blank.text or 'value=""' in blank.text  # what was typed is kept
    assert "Khách hàng gọi lên báo hóa đơn" in blank.text

    too_long = await agent.post("/complaints/new", data={"csrf_token": token, **intake_form(description="x" * 10_001)})
    assert too_long.status_code == 422
    assert re.search(r'id="error-description">Quá dài: tối đa 10000 ký tự.<', too_long.text)

    later = (datetime.now(UTC) + timedelta(days=2)).astimezone(BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M")
    future = await agent.post("/complaints/new", data={"csrf_token": token, **intake_form(received_at=later)})
    assert future.status_code == 422
    assert "Không được là thời điểm trong tương lai." in future.text

    channel = await agent.post("/complaints/new", data={"csrf_token": token, **intake_form(channel="carrier-pigeon")})
    assert channel.status_code == 422
    bad_phone = await agent.post(
        "/complaints/new", data={"csrf_token": token, **intake_form(**{"customer.phone": "call me"})}
    )
    assert bad_phone.status_code == 422
    assert re.search(r'id="error-customer.phone">Không đúng định dạng.<', bad_phone.text)
    assert await pool.fetchval("SELECT count(*) FROM complaints") == before


async def test_a_letter_keeps_its_receipt_time(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    earlier = datetime.now(UTC) - timedelta(days=2)
    local = earlier.astimezone(BUSINESS_TZ).strftime("%Y-%m-%dT%H:%M")
    cid = await take_in(agent, channel="letter", received_at=local, **{"customer.address": "12 Lê Lợi, Huế"})
    received_at = await pool.fetchval("SELECT received_at FROM complaints WHERE complaint_id = $1", cid)
    assert abs(received_at - earlier) < timedelta(minutes=1)


async def test_oversized_and_malformed_posts(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    page = await agent.get("/complaints/new")
    huge = await agent.post(
        "/complaints/new", data={"csrf_token": csrf_of(page.text), "description": "x" * (MAX_BODY_BYTES + 1)}
    )
    assert huge.status_code == 413
    as_json = await agent.post("/complaints/new", json={"csrf_token": csrf_of(page.text)})
    assert as_json.status_code == 415
    wrong_method = await agent.get("/logout")
    assert wrong_method.status_code == 405


# ---- unknown ids ----


async def test_unknown_ids_are_404(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    for path in (
        "/complaints/no-such-complaint",
        "/complaints/no-such-complaint/received",
        "/complaints/%24%7Bbad%7D",
        f"/complaints/{cid}/documents/receipt_form/7",
        f"/complaints/{cid}/documents/nothing/1",
        "/no/such/page",
    ):
        response = await agent.get(path)
        assert response.status_code == 404, path
    page = await agent.get(f"/complaints/{cid}")
    token = csrf_of(page.text)
    unknown_complaint = await agent.post(
        "/complaints/no-such-complaint/actions/acknowledge", data={"csrf_token": token, "request_id": "web:1"}
    )
    unknown_action = await agent.post(
        f"/complaints/{cid}/actions/launch_rocket", data={"csrf_token": token, "request_id": "web:2"}
    )
    assert unknown_complaint.status_code == unknown_action.status_code == 404
    assert "Không có khiếu nại với mã này." in unknown_complaint.text


# ---- actions ----


async def test_complaint_page_shows_state_deadlines_documents_and_the_temporal_link(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    page = await agent.get(f"/complaints/{cid}")
    assert page.status_code == 200
    assert f'href="{TEMPORAL_UI}/namespaces/default/workflows/complaint-{cid}"' in page.text
    assert "Đã tiếp nhận" in page.text
    assert "Hạn phản hồi đầu tiên" in page.text and re.search(r"còn \d+ giờ", page.text)
    assert "Phiếu tiếp nhận" in page.text
    assert "Tiếp nhận khiếu nại" in page.text  # the timeline's first event
    for action in ("acknowledge", "request_info", "transfer", "resolve_on_first_contact", "add_note"):
        assert f"/actions/{action}" in page.text
    assert "/actions/manager_approval" not in page.text


async def test_a_double_submit_is_applied_once(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    page = await agent.get(f"/complaints/{cid}")
    form = {"csrf_token": csrf_of(page.text), "request_id": request_id_of(page.text, "add_note"), "text": "gọi lại"}
    first = await agent.post(f"/complaints/{cid}/actions/add_note", data=form)
    second = await agent.post(f"/complaints/{cid}/actions/add_note", data=form)
    assert first.status_code == second.status_code == 303
    assert await kinds(pool, cid) == ["received", "add_note"]


async def test_a_stale_action_is_409_with_the_refusal_in_the_pages_words(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    stale_page = await agent.get(f"/complaints/{cid}")
    assert (await act(agent, cid, "acknowledge")).status_code == 303
    stale = await agent.post(
        f"/complaints/{cid}/actions/acknowledge",
        data={"csrf_token": csrf_of(stale_page.text), "request_id": request_id_of(stale_page.text, "acknowledge")},
    )
    assert stale.status_code == 409
    assert "Thao tác bị từ chối; không có gì thay đổi." in stale.text
    assert "Không thể “Xác nhận đã tiếp nhận” khi khiếu nại đang ở trạng thái “Đang phân tích”." in stale.text
    assert await kinds(pool, cid) == ["received", "acknowledge"]

    same_department = await act(agent, cid, "transfer", {"to_department": "customer_care", "reason": "nhầm"})
    assert same_department.status_code == 409
    assert "Khiếu nại đã thuộc bộ phận Chăm sóc khách hàng." in same_department.text
    assert await kinds(pool, cid) == ["received", "acknowledge"]


async def test_action_field_errors_are_422_and_change_nothing(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    nothing_missing = await act(agent, cid, "request_info", {"message": "Xin gửi hóa đơn"})
    assert nothing_missing.status_code == 422
    assert re.search(r'id="error-missing">Chọn ít nhất một mục.<', nothing_missing.text)
    assert "Xin gửi hóa đơn" in nothing_missing.text  # the typed message is kept

    too_long = await act(agent, cid, "add_note", {"text": "x" * 5_001})
    assert too_long.status_code == 422
    bad_department = await act(agent, cid, "transfer", {"to_department": "Kế toán!", "reason": "sai"})
    assert bad_department.status_code == 422
    assert re.search(r'id="error-to_department">Không đúng định dạng.<', bad_department.text)
    not_agreed = await act(agent, cid, "resolve_on_first_contact", {"resolution": "đã hoàn tiền"})
    assert not_agreed.status_code == 422
    unknown_primary = await act(agent, cid, "merge_into", {"primary_case_number": "KN-1999-000001"})
    assert unknown_primary.status_code == 422

    page = await agent.get(f"/complaints/{cid}")
    no_request_id = await agent.post(
        f"/complaints/{cid}/actions/add_note", data={"csrf_token": csrf_of(page.text), "text": "ghi chú"}
    )
    assert no_request_id.status_code == 400
    assert await kinds(pool, cid) == ["received"]


async def test_only_managers_see_and_send_the_approval(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent, manager = await signed_in("agent"), await signed_in("manager")
    admin = await signed_in("admin")
    cid = await take_in(agent)
    for action, data in (
        ("cause_identified", {"cause": "Lỗi đối soát", "company_at_fault": "on"}),
        ("propose_plan", {"plan": "Hoàn tiền"}),
    ):
        assert (await act(agent, cid, action, data)).status_code == 303, action

    for user in (agent, admin):
        page = await user.get(f"/complaints/{cid}")
        assert "/actions/manager_approval" not in page.text
        forged = await user.post(
            f"/complaints/{cid}/actions/manager_approval",
            data={"csrf_token": csrf_of(page.text), "request_id": "web:forged", "approved": "true"},
        )
        assert forged.status_code == 403
        assert "Vai trò của bạn không được thực hiện" in forged.text
    assert (await pool.fetchval("SELECT stage FROM complaints WHERE complaint_id = $1", cid)) == "awaiting_approval"

    page = await manager.get(f"/complaints/{cid}")
    assert "/actions/manager_approval" in page.text
    no_reason = await act(manager, cid, "manager_approval", approved="false")
    assert no_reason.status_code == 422
    assert re.search(r'id="error-comment">Hãy nêu lý do từ chối phương án.<', no_reason.text)
    rejected = await act(manager, cid, "manager_approval", {"comment": "Thiếu chi tiết"}, approved="false")
    assert rejected.status_code == 303
    assert (await pool.fetchval("SELECT stage FROM complaints WHERE complaint_id = $1", cid)) == "cause_identified"
    events = await pool.fetch("SELECT actor, role, door FROM complaint_events WHERE complaint_id = $1", cid)
    assert (events[-1]["actor"], events[-1]["role"], events[-1]["door"]) == ("manager.hung", "manager", "web")


async def test_the_workflow_checks_the_role_again(
    signed_in: SignIn, complaints: ComplaintClient, pool: asyncpg.Pool
) -> None:
    """The web's check is the first line; a caller with the agent role is refused by the workflow itself."""
    agent = await signed_in("agent")
    cid = await take_in(agent)
    await act(agent, cid, "cause_identified", {"cause": "Lỗi"})
    await act(agent, cid, "propose_plan", {"plan": "Hoàn tiền"})
    with pytest.raises(ActionFailed, match="needs the role manager"):
        await complaints.act(cid, "manager_approval", actor="agent.lan", role="agent", data={"approved": True})


# ---- inbox ----


async def test_inbox_search_filters_and_paging(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    marker = "Trạm BTS Đà Lạt"
    ids = [
        await take_in(agent, subject=f"{marker} mất sóng {n}", channel="letter", **{"customer.address": "Đà Lạt"})
        for n in range(3)
    ]
    case_number = await pool.fetchval("SELECT case_number FROM complaints WHERE complaint_id = $1", ids[0])

    found = await agent.get("/", params={"q": "bts đà lạt"})
    assert found.status_code == 200
    assert found.text.count("mất sóng") == 3
    by_customer = await agent.get("/", params={"q": "Nguyễn Văn"})
    assert marker in by_customer.text
    straight = await agent.get("/", params={"q": case_number.lower()})
    assert straight.status_code == 303
    assert straight.headers["location"] == f"/complaints/{ids[0]}"
    prefix = await agent.get("/", params={"q": case_number[:-1]})
    assert case_number in prefix.text

    letters = await agent.get("/", params={"channel": "letter", "q": marker})
    phones = await agent.get("/", params={"channel": "phone", "q": marker})
    assert letters.text.count("mất sóng") == 3 and "mất sóng" not in phones.text
    closed = await agent.get("/", params={"stage": "closed", "q": marker})
    assert "mất sóng" not in closed.text
    department = await agent.get("/", params={"department": "customer_care", "q": marker})
    assert department.text.count("mất sóng") == 3

    total = await pool.fetchval("SELECT count(*) FROM complaints")
    pages = -(-total // 25)  # the default page size
    if pages > 1:
        last = await agent.get("/", params={"page": pages})
        assert f"Trang {pages} / {pages}" in last.text
    garbage = await agent.get("/", params={"page": "x", "stage": "nonsense", "channel": "<script>"})
    assert garbage.status_code == 400  # a forged link is refused by name, never a silently different view
    with pytest.raises(QueryRefused) as refused:
        InboxFilter.from_query({"page": "-4"})
    assert refused.value.parameter == "page"


async def test_english_on_request_vietnamese_by_default(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    assert "Hộp khiếu nại" in (await agent.get("/")).text
    english = await agent.get("/", params={"lang": "en"})
    assert "Inbox" in english.text and "Hộp khiếu nại" not in english.text
    assert english.headers["set-cookie"].startswith("lang=en")
    assert '<html lang="en">' in (await agent.get("/")).text  # kept by the cookie
    back = await agent.get("/", params={"lang": "vi"})
    assert "Hộp khiếu nại" in back.text


async def test_pages_carry_security_headers(signed_in: SignIn, anonymous: httpx.AsyncClient) -> None:
    agent = await signed_in("agent")
    response = await agent.get("/")
    assert "script-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    cookie = (await anonymous.get("/login")).headers["set-cookie"].lower()
    assert cookie.startswith("complaints_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie


# ---- users ----


async def test_only_admins_manage_users(signed_in: SignIn, pool: asyncpg.Pool, anonymous: httpx.AsyncClient) -> None:
    agent, admin = await signed_in("agent"), await signed_in("admin")
    assert (await agent.get("/users")).status_code == 403
    page = await admin.get("/users")
    assert page.status_code == 200
    token = csrf_of(page.text)
    bad = await admin.post("/users", data={"csrf_token": token, "username": "x", "password": "short", "role": "agent"})
    assert bad.status_code == 422
    created = await admin.post(
        "/users", data={"csrf_token": token, "username": "thu.ha", "password": "mật khẩu dài", "role": "manager"}
    )
    assert created.status_code == 303
    assert await pool.fetchval("SELECT role FROM users WHERE username = 'thu.ha'") == "manager"
    await sign_in(anonymous, "thu.ha", "mật khẩu dài")
    assert "Quản lý" in (await anonymous.get("/")).text


async def test_a_disabled_user_is_signed_out(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    await add_user(pool, "leaving.soon", "a long password", "agent")
    client = await signed_in("agent")
    await client.post("/logout", data={"csrf_token": csrf_of((await client.get("/")).text)})
    await sign_in(client, "leaving.soon", "a long password")
    assert (await client.get("/")).status_code == 200
    await pool.execute("UPDATE users SET disabled = true WHERE username = 'leaving.soon'")
    assert (await client.get("/")).status_code == 303


async def test_the_page_still_shows_when_the_workflow_does_not_answer(
    signed_in: SignIn,
    complaints: ComplaintClient,
    pool: asyncpg.Pool,
    web_settings: WebSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Silent(ComplaintClient):
        async def allowed_actions(self, complaint_id: str, role: Role | None = None) -> list[Action]:
            await asyncio.sleep(60)
            return []

    agent = await signed_in("agent")
    cid = await take_in(agent)
    monkeypatch.setattr(web.routes.complaints, "ALLOWED_ACTIONS_TIMEOUT", 0.1)
    silent = build_web_app(Silent(complaints.client, complaints.task_queue), pool, web_settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=silent), base_url="http://testserver") as client:
        await sign_in(client, "agent.lan")
        page = await client.get(f"/complaints/{cid}")
    assert page.status_code == 200
    assert "Quy trình chưa phản hồi" in page.text
    assert "/actions/" not in page.text
