"""The portal link in every letter to a customer (issue 14): signed for the letter's complaint from the recorded
instant of its transition, so a retried record write renders the very same letter; staff messages carry none."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import pytest
from complaint_builders import CASE_LINKS, PERSONAL_DATA, PUBLIC_URL, RECEIVED, SETTINGS, Complaints, intake

from activities.documents import Occasion, render_document, render_message
from activities.notifications import NotificationSettings
from activities.records import cycle_clocks
from domain.calendar import WorkingCalendar
from domain.case_link import CaseLinkRefused, LinkRefusal
from domain.intake import Channel
from domain.lifecycle import ClockEvent, apply_clock, start_state
from domain.models import DocumentKind, Recipient, Transition

LINK = re.compile(
    re.escape(PUBLIC_URL) + r"/portal/c/(?P<token>[^\s\"<]+)\"?>?[^(]*\(liên kết có hiệu lực đến "
    r"(?P<until>\d\d/\d\d/\d{4} \d\d:\d\d);"
)


def received_by_mail(complaint_id: str = "c-portal-link") -> Transition:
    """A complaint by e-mail, as registered: its receipt to the customer and its receipt form."""
    return start_state(
        complaint_id,
        "KN-2026-000042",
        intake(channel=Channel.EMAIL),
        cycle_clocks(RECEIVED, WorkingCalendar()),
        RECEIVED,
    )


def the_link(text: str) -> tuple[str, str]:
    """The token and the expiry a letter or document states, from its one portal link."""
    found = LINK.findall(text)
    assert len(found) == 1, text
    token, until = found[0]
    return str(token), str(until)


def test_a_letter_to_the_customer_opens_its_complaint_until_the_link_expires() -> None:
    registered = received_by_mail()
    [receipt] = registered.notifications
    assert receipt.recipient is Recipient.CUSTOMER
    _subject, body = render_message(receipt, Occasion(registered.state, registered.event, SETTINGS))

    token, until = the_link(body)
    at = registered.event.at
    assert CASE_LINKS.read(token, now=at) == "c-portal-link"
    assert CASE_LINKS.read(token, now=at + CASE_LINKS.lifetime - timedelta(seconds=1)) == "c-portal-link"
    # Signed from the transition's instant (2 March 2026), not the clock: it expired long before this test ran.
    with pytest.raises(CaseLinkRefused) as refused:
        CASE_LINKS.read(token, now=at + CASE_LINKS.lifetime)
    assert refused.value.reason is LinkRefusal.EXPIRED
    assert until == "31/05/2026 09:00"  # 90 days after 09:00 local on 2 March, as the customer reads it
    assert not any(item in token for item in PERSONAL_DATA)

    again = render_message(receipt, Occasion(registered.state, registered.event, SETTINGS))
    assert again == (_subject, body), "a retried record write renders the same letter"


def test_staff_messages_and_the_fix_request_carry_no_link() -> None:
    registered = received_by_mail()
    escalated = apply_clock(registered.state, ClockEvent.FIRST_RESPONSE_ESCALATED, RECEIVED + timedelta(hours=24))
    occasion = Occasion(escalated.state, escalated.event, SETTINGS)
    assert escalated.notifications, "the supervisor is told"
    for notification in escalated.notifications:
        assert notification.recipient is not Recipient.CUSTOMER
        _subject, body = render_message(notification, occasion)
        assert "/portal/" not in body and "trực tuyến" not in body, notification.template
    _title, fix_request = render_document(DocumentKind.FIX_REQUEST, occasion)
    assert "/portal/" not in fix_request


def test_the_customers_documents_carry_the_link() -> None:
    registered = received_by_mail()
    _title, receipt_form = render_document(
        DocumentKind.RECEIPT_FORM, Occasion(registered.state, registered.event, SETTINGS)
    )
    token, _until = the_link(receipt_form)
    assert f'<a href="{PUBLIC_URL}/portal/c/{token}">' in receipt_form
    assert CASE_LINKS.read(token, now=registered.event.at) == "c-portal-link"


def test_without_case_links_no_letter_has_a_link() -> None:
    """Settings built by hand without the links (tests, tools) print none rather than a broken one."""
    registered = received_by_mail()
    bare = Occasion(registered.state, registered.event, NotificationSettings(SETTINGS.company))
    [receipt] = registered.notifications
    _subject, body = render_message(receipt, bare)
    _title, receipt_form = render_document(DocumentKind.RECEIPT_FORM, bare)
    for text in (body, receipt_form):
        assert "/portal/" not in text and "trực tuyến" not in text


@pytest.mark.postgres
async def test_the_receipt_in_the_outbox_carries_the_link_however_often_it_is_recorded(
    complaints: Complaints, pool: asyncpg.Pool
) -> None:
    request = complaints.request(channel=Channel.EMAIL)
    await complaints.records.register_complaint(request)
    await complaints.records.register_complaint(request)  # an activity retried: one receipt, written once
    [receipt] = await pool.fetch(
        "SELECT body FROM outbox WHERE complaint_id = $1 AND recipient = 'customer'", request.complaint_id
    )
    token, _until = the_link(receipt["body"])
    assert CASE_LINKS.read(token, now=request.now) == request.complaint_id
    form = await pool.fetchval(
        "SELECT body FROM documents WHERE complaint_id = $1 AND kind = 'receipt_form'", request.complaint_id
    )
    assert the_link(form)[0] == token, "the letter and the form are written at one instant: one link"
