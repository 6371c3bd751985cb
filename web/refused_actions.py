"""An action the workflow refused, worded in the reader's language from its code (`domain.refusals.Refusal`).

The workflow's English sentence is for the CLI and the logs; the page words the refusal itself from the code and
its params, naming actions, stages, roles and fields by the interface's own labels. A refusal without a code (the
record refused the write, an older worker) has no wording here: the page shows the workflow's sentence as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import ErrorDetails

from domain.company import CompanyProfile
from domain.models import Stage
from domain.refusals import Refusal
from web import labels
from web.forms import problem_text, refusal_text
from web.i18n import Translator
from web.labels import N_

WORDING: dict[Refusal, str] = {
    Refusal.ROLE_REQUIRED: N_("Only %(roles)s may do this (“%(action)s”); your role is %(role)s."),
    Refusal.STAGE_NOT_ALLOWED: N_("“%(action)s” is not possible while the complaint is “%(stage)s”."),
    Refusal.FIELD_INVALID: N_("“%(field)s” is not valid: %(problem)s"),
    Refusal.ALREADY_WITH_DEPARTMENT: N_("The complaint is already with the department %(department)s."),
    Refusal.CUSTOMER_MUST_AGREE: N_(
        "A complaint is settled on the spot only when the customer agrees; otherwise analyse it."
    ),
    Refusal.MERGE_INTO_ITSELF: N_("A complaint cannot be merged into itself."),
    Refusal.MERGE_NOT_OPEN: N_("The complaint to keep is not open (unknown or ended)."),
    Refusal.DEPARTMENT_UNKNOWN: N_("“%(field)s”: the company has no department “%(department)s”."),
    Refusal.MERGE_NEEDS_MANAGER: N_(
        "This complaint was received before the one to keep, so merging would move its deadlines earlier: "
        "only a manager may do that."
    ),
}
"""One wording per refusal code; a code added to `Refusal` without one fails tests/web/test_web_refusal_codes.py."""


def _label(table: Mapping[str, str], value: object, tr: Translator) -> str:
    return tr.gettext(table[str(value)]) if str(value) in table else str(value)


def _department(code: str, tr: Translator, company: CompanyProfile | None) -> str:
    if company is None:
        return code
    return company.department_name(code, "vi" if tr.language == "vi" else "en")


def _problem(params: Mapping[str, Any], tr: Translator) -> str:
    """The field's problem from its sub-code (a text policy code, or a pydantic error type with its context)."""
    code = str(params.get("problem", ""))
    worded = refusal_text(code, params, tr)
    if worded is not None:
        return worded
    error: ErrorDetails = {"type": code, "loc": (), "msg": "", "input": "", "ctx": dict(params)}
    return problem_text(error, tr) or tr.gettext("Not a valid value.")


def refused_action_text(
    code: str | None, params: Mapping[str, Any] | None, tr: Translator, company: CompanyProfile | None = None
) -> str | None:
    """The refusal in the reader's words, or None when it came without a code this interface knows; a department
    by its name in `company`'s profile (its code when the profile does not list it)."""
    if code not in set(Refusal):
        return None
    refusal = Refusal(code)
    params = params or {}
    values = {
        "action": _label(labels.ACTIONS, params.get("action", "?"), tr),
        "stage": _label(labels.STAGES, params.get("stage", "?"), tr),
        "roles": ", ".join(_label(labels.ROLES, role, tr) for role in params.get("roles", ["?"])),
        "role": _label(labels.ROLES, params.get("role", "?"), tr),
        "field": _label(labels.FIELDS, params.get("field", "?"), tr),
        "department": _department(str(params.get("department", "?")), tr, company),
    }
    if refusal is Refusal.FIELD_INVALID:
        values["problem"] = _problem(params, tr)
    return tr.gettext(WORDING[refusal], **values)


def moved_on_to(code: str | None, params: Mapping[str, Any] | None) -> Stage | None:
    """The stage the complaint has moved on to when the refusal says the page the agent acted on was stale."""
    stage = (params or {}).get("stage")
    if code != Refusal.STAGE_NOT_ALLOWED or stage not in set(Stage):
        return None
    return Stage(stage)
