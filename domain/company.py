"""The company a complaint is made to: its legal name and address as documents print them, and its departments.

Pure: `parse_company_profile` takes the text of a TOML profile and the name of its source; reading the file is
the settings' job (`starter.settings`). Departments travel as codes (`customer_care`) in the workflow, the
record and search attributes; people read their names, which only the profile knows.
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.actions import Action, CauseIdentified, Transfer
from domain.fields import MAX_EMAIL_CHARS, DepartmentCode, ShortText
from domain.intake import Intake, IntakeError
from domain.refusals import ActionRejected, Refusal

Language = Literal["vi", "en"]
Mailbox = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_EMAIL_CHARS, pattern=r"^[^@\s,;<>]+@[^@\s,;<>]+$")
]
"""One staff mailbox (`billing@example.vn`, or `billing@localhost` on the embedded stack): a customer's address
is checked harder (`domain.fields.Email`), a mailbox is the operator's own."""


class CompanyProfileError(ValueError):
    """A profile that cannot be used; the message names its source and the field."""


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: DepartmentCode
    name_vi: ShortText
    name_en: ShortText
    mailbox: Mailbox
    """Where the department's messages go (a transfer, a fix request, a first-response reminder)."""
    head_mailbox: Mailbox
    """Where the department head's warnings go (resolution due in 3 working days)."""

    def name(self, language: Language = "vi") -> str:
        return self.name_vi if language == "vi" else self.name_en


class CompanyProfile(BaseModel):
    """The legal name and address printed on letters, and the departments complaints may be sent to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    legal_name: ShortText
    address: ShortText
    departments: tuple[Department, ...] = Field(min_length=1)

    @field_validator("departments")
    @classmethod
    def _codes_once(cls, departments: tuple[Department, ...]) -> tuple[Department, ...]:
        seen: set[str] = set()
        for department in departments:
            if department.code in seen:
                raise ValueError(f"department code {department.code!r} is listed twice")
            seen.add(department.code)
        return departments

    @model_validator(mode="after")
    def _has_customer_care(self) -> CompanyProfile:
        """Intake defaults to the customer-care department: a profile without it would refuse every default."""
        if "customer_care" not in self.codes:
            raise ValueError("departments must include the code 'customer_care' (where complaints are received)")
        return self

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(department.code for department in self.departments)

    def department(self, code: str) -> Department | None:
        return next((department for department in self.departments if department.code == code), None)

    def department_name(self, code: str, language: Language = "vi") -> str:
        """A department's name; the code itself for one the profile no longer lists (recorded before it changed)."""
        department = self.department(code)
        return department.name(language) if department is not None else code

    def check_intake(self, intake: Intake) -> None:
        """`IntakeError` (`department_unknown`) when the receiving department is not one of the company's."""
        code = intake.department
        if self.department(code) is None:
            raise IntakeError("department", self._unknown(code), Refusal.DEPARTMENT_UNKNOWN.value, self._params(code))

    def check_action(self, action: Action, data: BaseModel) -> None:
        """`ActionRejected` (`department_unknown`, naming the field) when an action's data names a department the
        company does not have: a transfer's `to_department`, a cause's `departments`."""
        named: list[tuple[str, str]] = []
        if isinstance(data, Transfer):
            named.append(("to_department", data.to_department))
        if isinstance(data, CauseIdentified):
            named.extend(("departments", code) for code in data.departments)
        for field, code in named:
            if self.department(code) is None:
                params = {"action": action.value, "field": field, **self._params(code)}
                message = f"{action.value}: {field}: {self._unknown(code)}"
                raise ActionRejected(message, Refusal.DEPARTMENT_UNKNOWN, params)

    def _unknown(self, code: str) -> str:
        return f"no department has the code {code!r} (the company profile lists {', '.join(self.codes)})"

    def _params(self, code: str) -> dict[str, Any]:
        return {"department": code, "known": list(self.codes)}


def parse_company_profile(text: str, source: str) -> CompanyProfile:
    """The profile in `text` (TOML), or `CompanyProfileError` naming `source` and the first bad field."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CompanyProfileError(f"{source}: not valid TOML: {exc}") from None
    try:
        return CompanyProfile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_name(data, err["loc"]) or "profile"
        raise CompanyProfileError(f"{source}: {field}: {err['msg'].removeprefix('Value error, ')}") from None


def _field_name(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """`departments[1].mailbox`, with the department's code when it has one: `departments[1] (billing).mailbox`."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
            departments = data.get("departments")
            if loc[:index] == ("departments",) and isinstance(departments, list) and part < len(departments):
                code = departments[part].get("code") if isinstance(departments[part], dict) else None
                if isinstance(code, str) and loc[index + 1 :] != ("code",):
                    parts[-1] += f" ({code})"
        else:
            parts.append(str(part))
    return ".".join(parts)
