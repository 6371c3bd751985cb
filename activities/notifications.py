"""Where the record's messages go: the staff mailboxes and the company whose name the letters carry, and how a
customer is reached. Given by the worker (from `starter.settings`), never read here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from domain.case_link import CaseLinks
from domain.company import CompanyProfile
from domain.intake import Customer
from domain.models import Recipient

log = structlog.get_logger(__name__)

PORTAL_LINK_PATH = "/portal/c/"
"""Where the web app's portal opens a case from a signed link (`web/routes/portal.py`):
`<public URL>/portal/c/<token>`."""


@dataclass(frozen=True)
class PortalLink:
    """A customer's signed link to their complaint in the portal, and when it stops opening it."""

    url: str
    expires: datetime


@dataclass(frozen=True)
class NotificationSettings:
    """The company (its name, address and departments with their mailboxes) and the two staff mailboxes that are
    not a department's."""

    company: CompanyProfile
    supervisor: str = "supervisor@localhost"
    """The customer-care supervisor (`COMPLAINTS_STAFF_EMAIL_SUPERVISOR`)."""
    manager: str = "manager@localhost"
    """The manager (`COMPLAINTS_STAFF_EMAIL_MANAGER`)."""
    case_links: CaseLinks | None = None
    """Signs the portal link every letter to a customer carries; None (tests that need no link): no link."""
    public_url: str = ""
    """The web app's address as customers reach it (`COMPLAINTS_PUBLIC_URL`), which the links start with."""

    def portal_link(self, complaint_id: str, at: datetime) -> PortalLink | None:
        """The link a letter written at `at` carries. Signed from the transition's recorded instant, never the
        clock: a retried record write renders the very same letter."""
        if self.case_links is None or not self.public_url:
            return None
        token = self.case_links.sign(complaint_id, now=at)
        return PortalLink(f"{self.public_url.rstrip('/')}{PORTAL_LINK_PATH}{token}", at + self.case_links.lifetime)

    def staff_address(self, recipient: Recipient, department: str) -> str:
        """The mailbox of a staff recipient: a department's and its head's come from the company profile. A
        department the profile no longer lists (recorded before it changed) has its mail sent to the supervisor,
        who can route it, rather than lost."""
        if recipient is Recipient.SUPERVISOR:
            return self.supervisor
        if recipient is Recipient.MANAGER:
            return self.manager
        known = self.company.department(department)
        if known is None:
            log.warning("department not in the company profile: mail goes to the supervisor", department=department)
            return self.supervisor
        return known.head_mailbox if recipient is Recipient.DEPARTMENT_HEAD else known.mailbox


def customer_contact(customer: Customer) -> tuple[str, str]:
    """(medium, address) to reach the customer: e-mail when known, else phone, else the postal address."""
    if customer.email:
        return "email", customer.email
    if customer.phone:
        return "phone", customer.phone
    if customer.address:
        return "post", customer.address
    raise ValueError("customer has no contact")  # the Customer model already refuses this
