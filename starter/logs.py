"""Log configuration for every process, with personal data redacted as a second line of defence.

The first line is the code: log lines carry complaint ids, case numbers, kinds and counts, never the customer.
The second is `redact_personal_data`, a structlog processor that replaces the values of known personal-data
fields (at any depth, also inside pydantic models) and masks anything shaped like an e-mail address or a phone
number in the remaining text. Standard-library records (temporalio's, asyncpg's, the Temporal core's when
forwarded) are rendered through the same processors, so they are redacted too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from pydantic import BaseModel
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

PERSONAL_FIELDS = frozenset(
    {
        "customer",
        "customer_name",
        "name",
        "full_name",
        "contact_person",
        "phone",
        "phone_number",
        "email",
        "email_address",
        "address",
        "postal_address",
        "description",
        "subject",
        "intake",
        "body",
        "reply",
        "text",
        "data",
        "message_body",
        "comment",
    }
)
"""Keys whose values are the customer, or may hold the customer's or an agent's words about them."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])(?:\+84|84|0)(?:[ .-]?\d){8,10}(?!\w)")
_MAX_DEPTH = 8
_STRUCTLOG_KEYS = frozenset({"event", "level", "timestamp", "logger", "logger_name"})


def scrub_text(text: str) -> str:
    """Mask what looks like an e-mail address or a Vietnamese phone number."""
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def _redacted(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {
            key: REDACTED if str(key).lower() in PERSONAL_FIELDS else _redacted(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item, depth + 1) for item in value]
    return value


def redact_personal_data(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: known personal fields replaced, e-mails and phone numbers masked everywhere else.

    Put it after `format_exc_info` (so tracebacks are scrubbed too) and right before the renderer."""
    for key, value in list(event_dict.items()):
        if key.startswith("_") and key not in _STRUCTLOG_KEYS:
            continue  # structlog's own bookkeeping (`_record`, `_from_structlog`)
        if key.lower() in PERSONAL_FIELDS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redacted(value)
    return event_dict


def configure_logging(
    stream: TextIO | None = None,
    level: int = logging.INFO,
    *,
    library_level: int = logging.WARNING,
    json: bool | None = None,
) -> None:
    """structlog and standard logging, both to `stream` (stderr), through the same redaction and renderer:
    JSON lines, or readable lines at a terminal. Standard logging (other libraries) from `library_level` up."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    finish: list[Processor] = [structlog.processors.format_exc_info, redact_personal_data, renderer]
    structlog.configure(
        processors=[*shared, *finish],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(library_level)
