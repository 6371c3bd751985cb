"""Refusals of an action, as a stable code with params and as an English sentence.

The sentence is what the CLI and the logs print; the code and its params are what a door words in its reader's
language (the web form in Vietnamese or English). They travel in the workflow's `ApplicationError` details, so
nothing downstream parses the sentence.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Refusal(StrEnum):
    """Why an action was refused, as a stable code: each door words it in its reader's language from the code and
    its params, and nothing parses the English sentence (the values travel in the workflow's errors; never change)."""

    ROLE_REQUIRED = "role_required"
    """params: action, roles (those allowed), role (the caller's)."""
    STAGE_NOT_ALLOWED = "stage_not_allowed"
    """params: action, stage (where the complaint is now)."""
    FIELD_INVALID = "field_invalid"
    """params: action, field, problem (the pydantic error type or text policy code), and that error's context."""
    ALREADY_WITH_DEPARTMENT = "already_with_department"
    """params: action, department."""
    CUSTOMER_MUST_AGREE = "customer_must_agree"
    """params: action."""
    MERGE_INTO_ITSELF = "merge_into_itself"
    """params: action."""
    MERGE_NOT_OPEN = "merge_not_open"
    """params: action, primary (the complaint id to merge into)."""
    MERGE_NEEDS_MANAGER = "merge_needs_manager"
    """params: action, primary."""
    DEPARTMENT_UNKNOWN = "department_unknown"
    """params: field (`department`, `to_department`, `departments`), department (the code sent), known (the codes
    the company profile lists), and action for an action. Intake's `IntakeError` carries the same code."""


class ActionRejected(ValueError):
    """An action that may not happen now; the message says why, in words an agent can act on (the CLI prints it),
    and `code` with `params` say the same for a door that words it itself (JSON values only: they travel)."""

    def __init__(self, message: str, code: Refusal, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, Any] = dict(params or {})

    def details(self) -> dict[str, Any]:
        """The code and params as the workflow's `ApplicationError` carries them (its details, not its message)."""
        return {"code": self.code.value, "params": self.params}
