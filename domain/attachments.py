"""Files a customer sends with a complaint (screenshots, invoices): what may be kept, and the reference to one.

The file itself never enters Temporal: it is stored encrypted outside it (`activities.attachments`), and a
workflow, a signal or a timeline entry carries only its `AttachmentRef` (id, name, type, size, hash). What may be
kept is decided here, once, for every door (mail now; the portal and the web form later): a type on the allowlist,
not empty, not over the per-file limit, under a file name that is safe to show and to save.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from domain.fields import Recorded, ShortText
from domain.text import BIDI_CONTROLS

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
"""The per-file limit unless `COMPLAINTS_ATTACHMENT_MAX_BYTES` says otherwise: Zammad's 10 MB, which customers'
mail programs already respect."""

ALLOWED_TYPES: dict[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
}
"""The types kept, by their registered MIME types, each with the extension a nameless file gets. Evidence of a
complaint is a picture, a document or a table; anything else (executables, archives, HTML, SVG with its scripts,
macro-enabled Office files) is refused rather than served to an agent's browser."""

DEFAULT_FILE_NAME = "attachment"
MAX_FILE_NAME_CHARS = 150
"""Well under the 255 bytes most file systems allow for a name, even in Vietnamese (up to 3 bytes a letter)."""

ATTACHMENT_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
"""A random id, not the hash: a URL or a log line naming a file says nothing about its content."""
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")

_PATH_SEPARATORS = re.compile(r"[/\\]")
_WINDOWS_RESERVED_CHARS = re.compile(r'[<>:"|?*]')
_WINDOWS_RESERVED_NAMES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)), *(f"lpt{n}" for n in range(1, 10))}
)
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Controls, invisible format characters (zero-width, bidi), surrogates, private use, unassigned, separators."""


class AttachmentRefusal(StrEnum):
    """Why a file was not kept, as a stable code (each door words it; the values travel, never change)."""

    TYPE_NOT_ALLOWED = "attachment_type_not_allowed"
    """params: content_type (as sent, normalised), allowed (the allowlist)."""
    TOO_LARGE = "attachment_too_large"
    """params: size, max_bytes."""
    EMPTY = "attachment_empty"
    """params: none."""


class AttachmentRefused(ValueError):
    """A file that is not kept; the message says why in English (logs, the mail ingress's answer), `code` and
    `params` say the same for a door that words it itself. Nothing about the file's content is in either."""

    def __init__(self, message: str, code: AttachmentRefusal, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, Any] = dict(params or {})

    def details(self) -> dict[str, Any]:
        return {"code": self.code.value, "params": self.params}


MediaType = Annotated[
    str, StringConstraints(max_length=127, pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
]
"""A MIME type's shape, lower-case, no parameters. The allowlist is the door's check (`allowed_type`), not the
model's: a ref recorded while a type was allowed must still load (and its file still download, as bytes) should
the list shrink."""
AttachmentId = Annotated[str, StringConstraints(pattern=f"^{ATTACHMENT_ID_PATTERN.pattern}$")]
Sha256 = Annotated[str, StringConstraints(pattern=f"^{SHA256_PATTERN.pattern}$")]


class AttachmentRef(Recorded):
    """All that Temporal, a timeline entry or a message ever carries about a file: the bytes stay in the store.
    Frozen: a reference names one stored file for good."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attachment_id: AttachmentId
    name: ShortText
    """Made safe by `safe_file_name` before it is stored; shown to agents and offered as the download's name."""
    content_type: MediaType
    size: int = Field(gt=0)
    sha256: Sha256


def normalised_type(content_type: str) -> str:
    """`Text/Plain; charset=utf-8` is `text/plain`: parameters and case do not change what a file is."""
    return content_type.split(";", 1)[0].strip().lower()


def allowed_type(content_type: str) -> str:
    """The normalised type if it is on the allowlist, else `AttachmentRefused` (`attachment_type_not_allowed`)."""
    normalised = normalised_type(content_type)
    if normalised not in ALLOWED_TYPES:
        raise AttachmentRefused(
            f"files of type {normalised[:100]!r} are not kept (allowed: {', '.join(ALLOWED_TYPES)})",
            AttachmentRefusal.TYPE_NOT_ALLOWED,
            {"content_type": normalised[:100], "allowed": list(ALLOWED_TYPES)},
        )
    return normalised


def check_size(size: int, max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> None:
    """Refuses an empty file (nothing to keep: a mail program's placeholder) and one over `max_bytes`."""
    if size <= 0:
        raise AttachmentRefused("the file is empty", AttachmentRefusal.EMPTY)
    if size > max_bytes:
        raise AttachmentRefused(
            f"the file has {size} bytes, more than the {max_bytes} allowed",
            AttachmentRefusal.TOO_LARGE,
            {"size": size, "max_bytes": max_bytes},
        )


def safe_file_name(name: str, content_type: str) -> str:
    """A name safe to show and to save: its last path part only, without control, invisible or direction-changing
    characters (a right-to-left override makes `invoice‮fdp.exe` read as `invoiceexe.pdf`), without the characters
    Windows refuses, no leading dot, at most `MAX_FILE_NAME_CHARS`; Vietnamese letters are kept (NFC). A name with
    nothing left, or without an extension, gets the type's extension."""
    name = unicodedata.normalize("NFC", name)
    name = _PATH_SEPARATORS.split(name)[-1]
    name = "".join(
        " " if char.isspace() else char
        for char in name
        if char not in BIDI_CONTROLS and (char.isspace() or unicodedata.category(char) not in _DROPPED_CATEGORIES)
    )
    name = _WINDOWS_RESERVED_CHARS.sub("_", name)
    name = " ".join(name.split()).strip(". ")
    extension = ALLOWED_TYPES.get(normalised_type(content_type), "")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if not stem:
        stem = DEFAULT_FILE_NAME
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED_NAMES:
        stem = "_" + stem
    if not suffix:
        suffix = extension.lstrip(".")
    suffix = suffix[:16]
    stem = stem[: MAX_FILE_NAME_CHARS - len(suffix) - 1].rstrip(". ") or DEFAULT_FILE_NAME
    return f"{stem}.{suffix}" if suffix else stem
