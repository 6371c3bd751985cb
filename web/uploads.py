"""Reading a form that may carry files (`multipart/form-data`), within a size limit.

The customers' portal takes files with a complaint or an answer; the staff forms take none (`web.forms`). The whole
post is read with a cap first (413 past it, before anything is parsed), then parsed by python-multipart through
Starlette's parser, with limits on the number of fields and files and on a text field's size. Files are handed on
as they came; what may be kept (type, size) is the attachment store's rule (`domain.attachments`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from web.forms import MAX_FIELDS, FormData, parse_plain_form, read_body

MAX_FIELD_BYTES = 256 * 1024
"""A text field's size: far over the text policy's longest text, which then words the refusal."""
DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class UploadedFile:
    """One file of a post, as the browser sent it (`name` as typed on the customer's machine)."""

    field: str
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class PostedForm:
    fields: FormData
    files: list[UploadedFile]


async def parse_multipart(request: Request, body: bytes) -> PostedForm:
    """The fields and files of a `multipart/form-data` body, by python-multipart (Starlette's own parser); 400 when
    it is not one. The body is already read within its cap, so the parser gets it as one chunk."""

    async def whole() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, whole(), max_files=MAX_FIELDS, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
    )
    try:
        parsed = await parser.parse()
    except MultiPartException:
        raise HTTPException(400, "the form could not be read") from None
    pairs: list[tuple[str, str]] = []
    files: list[UploadedFile] = []
    try:
        for name, value in parsed.multi_items():
            if isinstance(value, str):
                pairs.append((name, value))
            elif value.filename or value.size:  # a file input left empty sends a part with no name and no bytes
                data = await value.read()
                files.append(UploadedFile(name, value.filename or "", value.content_type or DEFAULT_TYPE, data))
    finally:
        await parsed.close()
    return PostedForm(FormData(pairs), files)


async def read_posted_form(request: Request, max_bytes: int) -> PostedForm:
    """A post of either kind, read within `max_bytes`: a plain form, or one with files. 415 for anything else."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(415, "expected a form")
    body = await read_body(request, max_bytes)
    if kind == "multipart/form-data":
        return await parse_multipart(request, body)
    return PostedForm(parse_plain_form(body), [])
