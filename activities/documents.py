"""The documents and messages the record files and queues: rendered from `templates/` in Vietnamese.

Documents are HTML (autoescaped); message bodies are plain-text e-mail. Both are rendered once, when the
transition is recorded, and kept as written: what the customer received is what the record shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from activities.notifications import NotificationSettings, PortalLink
from domain.actions import InfoItem
from domain.calendar import BUSINESS_TZ
from domain.intake import Channel
from domain.models import ComplaintState, DocumentKind, Notification, Recipient, Stage, TimelineEvent

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

DOCUMENT_TITLES: dict[DocumentKind, str] = {
    DocumentKind.RECEIPT_FORM: "PHIẾU TIẾP NHẬN KHIẾU NẠI",
    DocumentKind.RESOLUTION_RECORD: "BIÊN BẢN GIẢI QUYẾT KHIẾU NẠI",
    DocumentKind.WRITTEN_REPLY: "VĂN BẢN TRẢ LỜI KHIẾU NẠI",
    DocumentKind.FIX_REQUEST: "YÊU CẦU KHẮC PHỤC",
}

CHANNEL_NAMES: dict[str, str] = {
    Channel.BRANCH: "trực tiếp tại chi nhánh",
    Channel.PHONE: "đường dây nóng",
    Channel.LETTER: "thư gửi qua bưu điện",
    Channel.EMAIL: "thư điện tử",
    Channel.SUPPORT_TICKET: "phiếu hỗ trợ",
    Channel.WEB: "trang web",
}

STAGE_NAMES: dict[str, str] = {
    Stage.RECEIVED: "đã tiếp nhận",
    Stage.ANALYSING: "đang phân tích",
    Stage.AWAITING_CUSTOMER: "chờ khách hàng bổ sung thông tin",
    Stage.CAUSE_IDENTIFIED: "đã xác định nguyên nhân",
    Stage.AWAITING_APPROVAL: "chờ phê duyệt phương án",
    Stage.APPROVED: "phương án đã được phê duyệt",
    Stage.ANSWERED: "đã trả lời khách hàng",
    Stage.CLOSED: "đã đóng",
    Stage.MERGED: "đã gộp vào khiếu nại khác",
    Stage.WITHDRAWN: "khách hàng đã rút khiếu nại",
}

INFO_ITEM_NAMES: dict[str, str] = {
    InfoItem.CONTACT_PERSON: "người liên hệ",
    InfoItem.EMAIL: "địa chỉ thư điện tử",
    InfoItem.PHONE: "số điện thoại",
    InfoItem.DOCUMENTS: "tài liệu, chứng từ liên quan",
    InfoItem.LOGS: "nhật ký, lịch sử giao dịch",
    InfoItem.OTHER: "thông tin khác",
}


def _local_time(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).strftime("%d/%m/%Y %H:%M")


def _local_date(value: date) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(BUSINESS_TZ).date()
    return value.strftime("%d/%m/%Y")


@pass_context
def _department_name(context: Context, code: object) -> str:
    """A department's Vietnamese name from the company profile of the occasion (its code if the profile no longer
    lists it): letters and messages never show a code."""
    return str(context["company"].department_name(str(code), "vi"))


def _build_environment() -> Environment:
    """Documents are HTML and autoescaped; message bodies are plain-text e-mail, where escaping would garble."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        auto_reload=False,  # templates change with a deploy, not while the process runs
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["local_time"] = _local_time
    env.filters["local_date"] = _local_date
    env.filters["channel_name"] = lambda value: CHANNEL_NAMES.get(str(value), str(value))
    env.filters["stage_name"] = lambda value: STAGE_NAMES.get(str(value), str(value))
    env.filters["info_item_name"] = lambda value: INFO_ITEM_NAMES.get(str(value), str(value))
    env.filters["department_name"] = _department_name
    return env


_TEMPLATES = _build_environment()


@dataclass(frozen=True)
class Occasion:
    """The recorded transition a message or document is written for, and the company whose name, address and
    department names the letters carry.

    `info_request` is the data of the cycle's latest information request, which reminders repeat."""

    state: ComplaintState
    event: TimelineEvent
    settings: NotificationSettings
    info_request: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        """What every template may use."""
        return {
            "complaint": self.state,
            "intake": self.state.intake,
            "deadlines": self.state.deadlines,
            "event": self.event,
            "data": self.event.data,
            "company": self.settings.company,
            "info_request": self.info_request,
        }

    def portal_link(self) -> PortalLink | None:
        """The complaint's portal link for what is written to the customer now (None without the settings)."""
        return self.settings.portal_link(self.state.complaint_id, self.event.at)


def render_message(notification: Notification, occasion: Occasion) -> tuple[str, str]:
    """(subject, body) of one notification, from `templates/messages/<template>.txt`."""
    template = _TEMPLATES.get_template(f"messages/{notification.template}.txt")
    context = occasion.context()
    context["department"] = notification.department or occasion.state.department
    if notification.recipient is Recipient.CUSTOMER:
        context["customer"] = occasion.state.intake.customer
        context["portal_link"] = occasion.portal_link()  # staff messages carry none: the link is the customer's
    subject = "".join(template.blocks["subject"](template.new_context(context)))
    body = template.render(context)
    # One line, always: a subject is an e-mail header, and free text from intake must not break it.
    return " ".join(subject.split()), body.strip() + "\n"


def render_document(kind: DocumentKind, occasion: Occasion) -> tuple[str, str]:
    """(title, HTML) of one document, from `templates/documents/<kind>.html`."""
    title = DOCUMENT_TITLES[kind]
    context = occasion.context()
    context["title"] = title
    context["customer"] = occasion.state.intake.customer
    context["portal_link"] = occasion.portal_link()
    return title, _TEMPLATES.get_template(f"documents/{kind.value}.html").render(context)
