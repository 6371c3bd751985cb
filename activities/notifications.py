"""Where the record's messages go: the staff mailboxes and the company name the letters carry, and how a
customer is reached. Read from the environment once, when the worker starts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from domain.models import Customer, Recipient


@dataclass(frozen=True)
class NotificationSettings:
    """Who staff messages go to and whose name the letters carry; read from the environment once."""

    company_name: str = "Công ty"
    supervisor: str = "supervisor@localhost"
    manager: str = "manager@localhost"
    department_head: str = "{department}-head@localhost"
    """`{department}` is replaced by the complaint's department."""
    department: str = "{department}@localhost"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotificationSettings:
        """`COMPLAINTS_STAFF_EMAIL_<ROLE>` (SUPERVISOR, MANAGER, DEPARTMENT_HEAD, DEPARTMENT) and
        `COMPLAINTS_COMPANY_NAME`; unset means the localhost defaults the embedded stack works with."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def pick(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        return cls(
            company_name=pick("COMPLAINTS_COMPANY_NAME", defaults.company_name),
            supervisor=pick("COMPLAINTS_STAFF_EMAIL_SUPERVISOR", defaults.supervisor),
            manager=pick("COMPLAINTS_STAFF_EMAIL_MANAGER", defaults.manager),
            department_head=pick("COMPLAINTS_STAFF_EMAIL_DEPARTMENT_HEAD", defaults.department_head),
            department=pick("COMPLAINTS_STAFF_EMAIL_DEPARTMENT", defaults.department),
        )

    def staff_address(self, recipient: Recipient, department: str) -> str:
        """The mailbox of a staff recipient; department mailboxes are per department."""
        pattern = {
            Recipient.SUPERVISOR: self.supervisor,
            Recipient.MANAGER: self.manager,
            Recipient.DEPARTMENT_HEAD: self.department_head,
            Recipient.DEPARTMENT: self.department,
        }[recipient]
        return pattern.replace("{department}", department)


def customer_contact(customer: Customer) -> tuple[str, str]:
    """(medium, address) to reach the customer: e-mail when known, else phone, else the postal address."""
    if customer.email:
        return "email", customer.email
    if customer.phone:
        return "phone", customer.phone
    if customer.address:
        return "post", customer.address
    raise ValueError("customer has no contact")  # the Customer model already refuses this
