"""The conversation with the customer on the complaint page, unread customer mail in the inbox, and the reopen
offered when a customer writes to a closed complaint (issue 13), through the real app, workflow and PostgreSQL.

The mail ingress is another slice: these tests send what it will send, the complaint by `ComplaintClient.start`
(channel email, files already in the store) and the customer's mail as system actions through door `email`.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import asyncpg
import pytest
from samples import make_intake
from web_support import SignIn, act, take_in

from activities.attachments import AttachmentStore
from domain.actions import Action, Door, Role
from domain.models import ComplaintState, Stage
from starter.client import ComplaintClient
from web.clock import local_time

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

SCREENSHOT_NAME = "ảnh chụp modem.png"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"\x01" * 1500
INVOICE_NAME = "Hóa đơn tháng 10.pdf"
INVOICE = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
AGENT = {"actor": "agent.lan", "role": Role.AGENT}
MAIL = {"actor": "mail", "role": Role.SYSTEM, "door": Door.EMAIL}


async def by_mail(complaints: ComplaintClient, store: AttachmentStore, **intake: Any) -> ComplaintState:
    """A complaint as the mail ingress starts it: its files kept first, under the complaint id it will have."""
    complaint_id = uuid.uuid4().hex
    screenshot = await store.put(complaint_id, SCREENSHOT_NAME, "image/png", SCREENSHOT)
    values: dict[str, Any] = {
        "complaint_id": complaint_id,
        "subject": "Modem mất tín hiệu",
        "description": "Modem mất tín hiệu từ sáng <script>alert(1)</script>.",
        "attachments": [screenshot.model_dump(mode="json")],
        "message_id": f"<{complaint_id}@mail.example.vn>",
    }
    return await complaints.start(make_intake(**values | intake))


async def customer_writes(complaints: ComplaintClient, complaint_id: str, text: str, **data: Any) -> ComplaintState:
    return await complaints.act(complaint_id, Action.CUSTOMER_WROTE, **MAIL, data={"text": text, **data})


def section(page: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', page, re.S)
    assert found, f"no section {section_id}"
    return found.group(1)


def messages_of(page: str) -> list[str]:
    """Each message of the conversation as text, in the page's order."""
    items = re.findall(r'<li class="(in|out) kind-[a-z_]+">(.*?)</li>\s*(?=<li class="(?:in|out) |</ol>)', page, re.S)
    return [
        f"{direction}: " + " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split()) for direction, body in items
    ]


async def test_the_page_shows_the_conversation_in_order_with_its_files(
    signed_in: SignIn, complaints: ComplaintClient, store: AttachmentStore
) -> None:
    state = await by_mail(complaints, store)
    cid = state.complaint_id
    agent = await signed_in("agent")
    asked = await act(
        agent, cid, "request_info", {"missing": ["documents"], "message": "Xin gửi hóa đơn tháng 10 & ảnh lỗi."}
    )
    assert asked.status_code == 303
    invoice = await store.put(cid, INVOICE_NAME, "application/pdf", INVOICE)
    await complaints.act(
        cid,
        Action.CUSTOMER_INFO_RECEIVED,
        **MAIL,
        data={"summary": "Gửi anh hóa đơn <b>tháng 10</b>.", "attachments": [invoice.model_dump(mode="json")]},
    )

    page = await agent.get(f"/complaints/{cid}")
    assert page.status_code == 200
    conversation = section(page.text, "conversation")
    assert "Trao đổi với khách hàng" in conversation
    messages = messages_of(conversation)
    assert len(messages) == 4, messages
    received, receipt, request, answer = messages
    assert received.startswith("in: Từ khách hàng Tiếp nhận khiếu nại · qua thư điện tử")
    assert "Modem mất tín hiệu từ sáng <script>alert(1)</script>." in received and SCREENSHOT_NAME in received
    assert "<script>alert(1)</script>" not in page.text  # escaped, never markup
    assert receipt.startswith("out: Gửi khách hàng qua thư điện tử · đang chờ gửi")
    assert f"[{state.case_number}] Đã nhận khiếu nại của Quý khách" in receipt
    assert request.startswith("out: Gửi khách hàng") and "Xin gửi hóa đơn tháng 10 & ảnh lỗi." in request
    assert answer.startswith("in: Từ khách hàng Khách hàng đã bổ sung thông tin · qua thư điện tử")
    assert "Gửi anh hóa đơn <b>tháng 10</b>." in answer and INVOICE_NAME in answer
    assert "<b>tháng 10</b>" not in conversation

    link = f'href="/complaints/{cid}/attachments/{invoice.attachment_id}" download'
    assert link in conversation
    download = await agent.get(f"/complaints/{cid}/attachments/{invoice.attachment_id}")
    assert (download.status_code, download.content) == (200, INVOICE)

    english = await agent.get(f"/complaints/{cid}?lang=en")
    messages = messages_of(section(english.text, "conversation"))
    assert messages[0].startswith("in: From the customer Complaint received · by e-mail")
    assert messages[1].startswith("out: To the customer by e-mail · waiting to go out")
    assert f"[{state.case_number}] Đã nhận khiếu nại của Quý khách" in messages[1]  # what the customer got, as sent


async def test_a_complaint_without_messages_says_so(signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)  # by phone: the description is the agent's note, no receipt mail
    conversation = section((await agent.get(f"/complaints/{cid}")).text, "conversation")
    assert "Chưa có trao đổi nào với khách hàng." in conversation


def inbox_row(page: str, complaint_id: str) -> str:
    rows = [row for row in re.findall(r"<tr[ >].*?</tr>", page, re.S) if f'href="/complaints/{complaint_id}"' in row]
    assert len(rows) == 1, f"{complaint_id} is not listed once"
    return rows[0]


async def test_the_inbox_marks_unread_customer_mail_until_staff_open_the_complaint(
    signed_in: SignIn, complaints: ComplaintClient, store: AttachmentStore
) -> None:
    state = await by_mail(complaints, store, subject="Mạng chập chờn ở chi nhánh Huế")
    quiet = await by_mail(complaints, store, subject="Mạng chập chờn ở chi nhánh Vinh")
    cid = state.complaint_id
    agent, manager = await signed_in("agent"), await signed_in("manager")
    search = "/?q=" + "chập chờn"

    inbox = (await agent.get(search)).text
    assert "Thư mới của khách hàng" not in inbox_row(inbox, cid)  # the complaint itself is no unread reply

    await customer_writes(complaints, cid, "Vẫn chập chờn, xin xử lý gấp.", subject="Re: Mạng chập chờn")
    inbox = (await agent.get(search)).text
    assert 'class="unread"' in inbox_row(inbox, cid) and "Thư mới của khách hàng" in inbox_row(inbox, cid)
    assert "Thư mới của khách hàng" not in inbox_row(inbox, quiet.complaint_id)
    assert re.search(r"\d+ khiếu nại có thư khách hàng chưa đọc", inbox)
    only_unread = (await agent.get("/?stage=all&unread=1")).text
    assert f'href="/complaints/{cid}"' in only_unread and f'href="/complaints/{quiet.complaint_id}"' not in only_unread
    assert 'name="unread" value="1" checked' in only_unread
    assert "Only unread customer mail" in (await (await signed_in("agent")).get("/?lang=en")).text

    page = await manager.get(f"/complaints/{cid}")  # any member of staff opening it: the team has seen it
    assert "Vẫn chập chờn, xin xử lý gấp." in section(page.text, "conversation")
    inbox = (await agent.get(search)).text
    assert "Thư mới của khách hàng" not in inbox_row(inbox, cid)
    assert f'href="/complaints/{cid}"' not in (await agent.get("/?stage=all&unread=1")).text

    await customer_writes(complaints, cid, "Cho tôi hỏi tiến độ?")
    assert "Thư mới của khách hàng" in inbox_row((await agent.get(search)).text, cid)
    assert (await agent.get("/?unread=2")).status_code == 400


async def closed_by_mail(complaints: ComplaintClient, store: AttachmentStore) -> ComplaintState:
    state = await by_mail(complaints, store)
    cid = state.complaint_id
    await complaints.act(
        cid, Action.RESOLVE_ON_FIRST_CONTACT, **AGENT, data={"resolution": "Đã đổi modem.", "customer_agreed": True}
    )
    return await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "Xong", "lessons_learned": "Kiểm tra"})


async def test_a_customer_writing_to_a_closed_complaint_is_offered_as_a_reopen_never_done_by_itself(
    signed_in: SignIn, complaints: ComplaintClient, store: AttachmentStore, pool: asyncpg.Pool
) -> None:
    closed = await closed_by_mail(complaints, store)
    cid = closed.complaint_id
    agent = await signed_in("agent")
    assert 'id="reopen-offer"' not in (await agent.get(f"/complaints/{cid}")).text  # nothing written since

    wrote = await customer_writes(complaints, cid, "Modem mới cũng mất tín hiệu.", subject="Re: Modem")
    assert (wrote.stage, wrote.cycle) == (Stage.CLOSED, 1)  # the mail alone reopens nothing
    snapshot = await pool.fetchval("SELECT stage FROM complaints WHERE complaint_id = $1", cid)
    assert snapshot == "closed"

    page = await agent.get(f"/complaints/{cid}")
    offer = re.search(r'<div class="banner notice" role="status" id="reopen-offer">(.*?)</div>', page.text, re.S)
    assert offer, "a closed complaint the customer wrote to offers a reopen"
    written_at = local_time(
        await pool.fetchval("SELECT at FROM complaint_events WHERE complaint_id = $1 AND seq = $2", cid, wrote.last_seq)
    )
    reason = f"Khách hàng đã viết thư lúc {written_at}, sau khi khiếu nại đã đóng."
    assert html.unescape(offer.group(1)).count(reason) == 2  # the notice, and the reason it prefills
    assert f'action="/complaints/{cid}/actions/reopen"' in offer.group(1)

    form = dict(re.findall(r'name="(csrf_token|request_id|reason)" value="([^"]*)"', offer.group(1)))
    reopened = await agent.post(
        f"/complaints/{cid}/actions/reopen", data={k: html.unescape(v) for k, v in form.items()}
    )
    assert reopened.status_code == 303, reopened.text
    state = await complaints.state(cid)
    assert (state.stage, state.cycle) == (Stage.RECEIVED, 2)
    assert state.timeline[-1].data == {"reason": reason}
    assert 'id="reopen-offer"' not in (await agent.get(f"/complaints/{cid}")).text


async def test_no_reopen_offer_for_mail_written_before_the_close_or_without_the_right(
    signed_in: SignIn, complaints: ComplaintClient, store: AttachmentStore
) -> None:
    state = await by_mail(complaints, store)
    cid = state.complaint_id
    await customer_writes(complaints, cid, "Thêm thông tin trước khi đóng.")
    await complaints.act(
        cid, Action.RESOLVE_ON_FIRST_CONTACT, **AGENT, data={"resolution": "Đã đổi modem.", "customer_agreed": True}
    )
    await complaints.act(cid, Action.CLOSE, **AGENT, data={"summary": "Xong", "lessons_learned": "Kiểm tra"})
    agent = await signed_in("agent")
    assert 'id="reopen-offer"' not in (await agent.get(f"/complaints/{cid}")).text


async def test_an_answered_complaint_shows_no_offer(
    signed_in: SignIn, complaints: ComplaintClient, store: AttachmentStore
) -> None:
    """Answered but not closed: reopen is an action there too, but the customer's mail is simply new mail."""
    state = await by_mail(complaints, store)
    cid = state.complaint_id
    await complaints.act(
        cid, Action.RESOLVE_ON_FIRST_CONTACT, **AGENT, data={"resolution": "Đã đổi modem.", "customer_agreed": True}
    )
    await customer_writes(complaints, cid, "Cảm ơn.")
    agent = await signed_in("agent")
    page = (await agent.get(f"/complaints/{cid}")).text
    assert 'id="reopen-offer"' not in page and "Cảm ơn." in section(page, "conversation")
