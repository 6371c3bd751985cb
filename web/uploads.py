"""Reading a form that may carry files (`multipart/form-data`), within a size limit, without a parsing library.

The customers' portal takes files with a complaint or an answer; the staff forms take none (`web.forms`). The whole
post is read with a cap first (413 past it, before anything is parsed), then split on its boundary: a form of a few
fields and files needs no more than that, and no dependency is added for it. Files are handed on as they came; what
may be kept (type, size) is the attachment store's rule (`domain.attachments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from web.forms import MAX_FIELDS, FormData

MAX_HEADER_BYTES = 4096
"""A part's own headers (its name, file name and type): a few hundred bytes from any browser."""


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


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The post's body, or 413 once it is larger than `max_bytes` (the declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise HTTPException(413, "the form is too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise HTTPException(413, "the form is too large")
    return bytes(body)


def _header_params(value: str) -> Message:
    """A header's value with its parameters, read by the standard library's MIME rules (quoted, RFC 2231)."""
    message = Message()
    message["content-disposition"] = value
    return message


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = b"--" + boundary
    if not body.startswith(delimiter):
        raise HTTPException(400, "the form could not be read")
    rest = body[len(delimiter) :]
    parts: list[bytes] = []
    while not rest.startswith(b"--"):
        if not rest.startswith(b"\r\n") or len(parts) >= MAX_FIELDS:
            raise HTTPException(400, "the form could not be read")
        end = rest.find(b"\r\n" + delimiter, 2)
        if end < 0:
            raise HTTPException(400, "the form could not be read")
        parts.append(rest[2:end])
        rest = rest[end + 2 + len(delimiter) :]
    return parts


def parse_multipart(content_type: str, body: bytes) -> PostedForm:
    """The fields and files of a `multipart/form-data` body; 400 when it is not one."""
    boundary = _header_params(content_type).get_param("boundary", header="content-disposition")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 200:
        raise HTTPException(400, "the form could not be read")
    pairs: list[tuple[str, str]] = []
    files: list[UploadedFile] = []
    for part in _parts(body, boundary.encode("latin-1", "replace")):
        head, separator, data = part.partition(b"\r\n\r\n")
        if not separator or len(head) > MAX_HEADER_BYTES:
            raise HTTPException(400, "the form could not be read")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        disposition = _header_params(headers.get("content-disposition", ""))
        name = disposition.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise HTTPException(400, "the form could not be read")
        file_name = disposition.get_filename()
        if file_name is None:
            try:
                pairs.append((name, data.decode("utf-8")))
            except UnicodeDecodeError:
                raise HTTPException(400, "the form could not be read") from None
        elif file_name or data:  # a file input left empty sends a part with no name and no bytes
            content_type_of_part = headers.get("content-type", "application/octet-stream")
            files.append(UploadedFile(name, file_name, content_type_of_part, data))
    return PostedForm(FormData(pairs), files)


async def read_posted_form(request: Request, max_bytes: int) -> PostedForm:
    """A post of either kind, read within `max_bytes`: a plain form, or one with files. 415 for anything else."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise HTTPException(415, "expected a form")
    body = await read_body(request, max_bytes)
    if kind == "multipart/form-data":
        return parse_multipart(content_type, body)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form could not be read") from None
    return PostedForm(FormData(pairs), [])
