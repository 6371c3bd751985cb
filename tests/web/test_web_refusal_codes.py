"""A refused action is worded on the page from its code (`domain.refusals.Refusal`), in the page's language.

The workflow's English sentence is for the CLI; a Vietnamese page shows none of it. Each code has a wording in
both languages, naming actions, stages, roles and fields by the interface's labels; a refusal without a code (the
record refused the write) still shows the workflow's sentence, as tests/web/test_web_refusals.py checks.
"""

from __future__ import annotations

import html
from typing import Any

import asyncpg
import pytest
from web_support import SignIn, act, csrf_of, request_id_of, take_in

from domain.actions import Role
from domain.refusals import Refusal
from starter.client import ActionFailed, ComplaintClient
from web.i18n import Translator
from web.refused_actions import WORDING, moved_on_to, refused_action_text

SAMPLES: dict[Refusal, tuple[dict[str, Any], str, str]] = {
    Refusal.ROLE_REQUIRED: (
        {"action": "manager_approval", "roles": ["manager"], "role": "agent"},
        "Only Manager may do this (“Approve or reject the plan”); your role is Agent.",
        "Chỉ Quản lý được thực hiện thao tác này (“Phê duyệt hoặc từ chối phương án”); "
        "vai trò của bạn là Nhân viên CSKH.",
    ),
    Refusal.STAGE_NOT_ALLOWED: (
        {"action": "acknowledge", "stage": "analysing"},
        "“Acknowledge receipt” is not possible while the complaint is “Analysing”.",
        "Không thể “Xác nhận đã tiếp nhận” khi khiếu nại đang ở trạng thái “Đang phân tích”.",
    ),
    Refusal.FIELD_INVALID: (
        {"action": "add_note", "field": "text", "problem": "string_too_long", "max_length": "5000"},
        "“Note” is not valid: Too long: at most 5000 characters.",
        "“Ghi chú” không hợp lệ: Quá dài: tối đa 5000 ký tự.",
    ),
    Refusal.ALREADY_WITH_DEPARTMENT: (
        {"action": "transfer", "department": "billing"},
        "The complaint is already with the department billing.",
        "Khiếu nại đã thuộc bộ phận billing.",
    ),
    Refusal.DEPARTMENT_UNKNOWN: (
        {"action": "transfer", "field": "to_department", "department": "marketing", "known": ["customer_care"]},
        "“To department”: the company has no department “marketing”.",
        "“Chuyển đến bộ phận”: công ty không có bộ phận “marketing”.",
    ),
    Refusal.CUSTOMER_MUST_AGREE: (
        {"action": "resolve_on_first_contact"},
        "A complaint is settled on the spot only when the customer agrees; otherwise analyse it.",
        "Chỉ giải quyết ngay khi khách hàng đồng ý; nếu không, hãy phân tích khiếu nại.",
    ),
    Refusal.MERGE_INTO_ITSELF: (
        {"action": "merge_into"},
        "A complaint cannot be merged into itself.",
        "Không thể gộp một khiếu nại vào chính nó.",
    ),
    Refusal.MERGE_NOT_OPEN: (
        {"action": "merge_into", "primary": "c9"},
        "The complaint to keep is not open (unknown or ended).",
        "Khiếu nại được giữ lại không còn mở (không tồn tại hoặc đã kết thúc).",
    ),
    Refusal.MERGE_NEEDS_MANAGER: (
        {"action": "merge_into", "primary": "c9"},
        "This complaint was received before the one to keep, so merging would move its deadlines earlier: "
        "only a manager may do that.",
        "Khiếu nại này được tiếp nhận trước khiếu nại được giữ lại, nên gộp sẽ đưa các hạn xử lý lên sớm hơn: "
        "chỉ quản lý mới được làm việc này.",
    ),
}


def test_every_code_has_a_wording_and_a_sample() -> None:
    assert set(WORDING) == set(Refusal) == set(SAMPLES)


@pytest.mark.parametrize("code", list(Refusal))
def test_each_code_is_worded_in_both_languages(code: Refusal) -> None:
    params, english, vietnamese = SAMPLES[code]
    assert refused_action_text(code.value, params, Translator("en")) == english
    assert refused_action_text(code.value, params, Translator("vi")) == vietnamese


def test_a_field_refusal_words_its_sub_code() -> None:
    """A text policy code is worded as the form words it next to a field, with the character it names."""
    params = {"action": "add_note", "field": "text", "problem": "text_control_character", "character": "U+0007"}
    assert refused_action_text("field_invalid", params, Translator("en")) == (
        "“Note” is not valid: Must not contain control characters (U+0007)."
    )
    unknown = {"action": "add_note", "field": "text", "problem": "something_new"}
    worded = refused_action_text("field_invalid", unknown, Translator("vi"))
    assert worded == "“Ghi chú” không hợp lệ: Giá trị không hợp lệ."


def test_no_code_or_an_unknown_one_has_no_wording() -> None:
    """The page then shows the workflow's own sentence (a record refusal, an older worker)."""
    assert refused_action_text(None, None, Translator("vi")) is None
    assert refused_action_text("from_a_newer_worker", {}, Translator("vi")) is None
    assert moved_on_to(None, None) is None
    assert moved_on_to("already_with_department", {"stage": "analysing"}) is None
    assert moved_on_to("stage_not_allowed", {"action": "acknowledge", "stage": "analysing"}) == "analysing"


@pytest.mark.temporal
@pytest.mark.postgres
async def test_the_client_reads_the_code_from_the_workflow(complaints: ComplaintClient, signed_in: SignIn) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    assert (await act(agent, cid, "acknowledge")).status_code == 303
    with pytest.raises(ActionFailed) as refused:
        await complaints.act(cid, "acknowledge", actor="agent.lan", role=Role.AGENT)
    assert refused.value.code == "stage_not_allowed"
    assert refused.value.params == {"action": "acknowledge", "stage": "analysing"}
    assert refused.value.reason == "acknowledge is not allowed while the complaint is analysing"  # what the CLI prints

    with pytest.raises(ActionFailed) as no_role:
        await complaints.act(cid, "manager_approval", actor="agent.lan", role=Role.AGENT, data={"approved": True})
    assert no_role.value.code == "role_required"
    assert no_role.value.params == {"action": "manager_approval", "roles": ["manager"], "role": "agent"}

    with pytest.raises(ActionFailed) as bad_text:
        await complaints.act(cid, "add_note", actor="agent.lan", role=Role.AGENT, data={"text": "gọi lại\x07"})
    assert bad_text.value.code == "field_invalid"
    assert bad_text.value.params is not None
    assert bad_text.value.params["problem"] == "text_control_character"
    assert bad_text.value.params["field"] == "data.text"


@pytest.mark.temporal
@pytest.mark.postgres
async def test_a_stale_page_is_refused_in_the_pages_language(signed_in: SignIn, pool: asyncpg.Pool) -> None:
    agent = await signed_in("agent")
    cid = await take_in(agent)
    stale_page = await agent.get(f"/complaints/{cid}")
    assert (await act(agent, cid, "acknowledge")).status_code == 303
    stale_form = {"csrf_token": csrf_of(stale_page.text), "request_id": request_id_of(stale_page.text, "acknowledge")}

    vietnamese = await agent.post(f"/complaints/{cid}/actions/acknowledge", data=stale_form)
    assert vietnamese.status_code == 409
    text = html.unescape(vietnamese.text)
    assert "Thao tác bị từ chối; không có gì thay đổi." in text
    assert "Khiếu nại đã chuyển sang giai đoạn khác: hiện là “Đang phân tích”." in text
    assert "Không thể “Xác nhận đã tiếp nhận” khi khiếu nại đang ở trạng thái “Đang phân tích”." in text
    assert "not allowed while" not in text and "acknowledge is" not in text, "no English sentence on a Vietnamese page"
    assert "Lý do từ quy trình" not in text

    await agent.get("/", params={"lang": "en"})
    english = await agent.post(f"/complaints/{cid}/actions/acknowledge", data=stale_form)
    assert english.status_code == 409
    text = html.unescape(english.text)
    assert "The complaint has moved on: it is now “Analysing”." in text
    assert "“Acknowledge receipt” is not possible while the complaint is “Analysing”." in text
    assert "not allowed while" not in text, "worded from the code, not the workflow's sentence"

    same_department = await act(agent, cid, "transfer", {"to_department": "customer_care", "reason": "wrong desk"})
    assert same_department.status_code == 409
    assert "The complaint is already with the department Customer care." in html.unescape(same_department.text)
    assert "has moved on" not in same_department.text, "only a stage refusal says the page was stale"
    events = await pool.fetch("SELECT kind FROM complaint_events WHERE complaint_id = $1 ORDER BY seq", cid)
    assert [row["kind"] for row in events] == ["received", "acknowledge"]
