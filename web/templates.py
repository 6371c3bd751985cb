"""The pages' Jinja setup: one environment per language, with the labels, times and widgets pages use.

Autoescaped everywhere, strict about undefined names, and translated through `web.i18n`'s catalogues; the
request-side rendering (flash, CSRF token, language links) is `web.pages.Pages.render`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.attachments import ALLOWED_TYPES
from domain.company import CompanyProfile
from web import labels
from web.clock import local_time, time_left
from web.forms import Widget
from web.i18n import LANGUAGES, Translator, translations
from web.portal import customer_stage
from web.users import UserRole

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def file_size(size: int, language: str) -> str:
    """`2.4 MB` (`2,4 MB` in Vietnamese): enough to tell a screenshot from a scanned contract."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            text = f"{size / scale:.1f}"
            return f"{text.replace('.', ',') if language == 'vi' else text} {unit}"
    return f"{size} B"


def page_environment(language: str, company: CompanyProfile) -> Environment:
    """The environment pages in `language` render with: its translations, label filters and globals; departments
    are shown by their names in that language (`|department`), and the department fields offer the company's
    departments (`DEPARTMENTS`: code, name)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        auto_reload=False,  # templates change with a deploy, not while the process runs
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    tr = Translator(language)

    def label(table: dict[str, str]) -> Callable[[object], str]:
        return lambda value: tr.gettext(table[str(value)]) if str(value) in table else str(value)

    env.filters.update(
        local_time=local_time,
        local_date=lambda value: value.strftime("%d/%m/%Y"),
        left=lambda due, now, breached=False: time_left(due, now, tr, breached=breached),
        stage=label(labels.STAGES),
        customer_stage=lambda stage: tr.gettext(labels.CUSTOMER_STAGES[customer_stage(stage)]),
        action=label(labels.ACTIONS),
        event=label(labels.EVENTS),
        channel=label(labels.CHANNELS),
        role=label(labels.ROLES),
        field=label(labels.FIELDS),
        info_item=label(labels.INFO_ITEMS),
        reply_channel=label(labels.REPLY_CHANNELS),
        document=label(labels.DOCUMENTS),
        file_type=lambda content_type: ALLOWED_TYPES.get(str(content_type), "").lstrip(".").upper() or "?",
        file_size=lambda size: file_size(int(size), language),
        department=lambda code: company.department_name(str(code), "vi" if language == "vi" else "en"),
    )
    env.globals.update(
        STAGES=labels.STAGES,
        CHANNELS=labels.CHANNELS,
        INTAKE_CHANNELS=[c.value for c in labels.INTAKE_CHANNELS],
        DEPARTMENTS=[(d.code, d.name("vi" if language == "vi" else "en")) for d in company.departments],
        ROLES=[role.value for role in UserRole],
        Widget=Widget,
        language=language,
        COMPANY_NAME=company.legal_name,
    )
    return env


class PageTemplates:
    """The environments of every language, built once per app."""

    def __init__(self, company: CompanyProfile) -> None:
        self.environments = {language: page_environment(language, company) for language in LANGUAGES}

    def render(self, language: str, template: str, **values: Any) -> str:
        return self.environments[language].get_template(template).render(**values)
