"""Customers' files on the complaint page: the list, and each file as a download for signed-in staff.

A file is never shown inline: it is served as an attachment, under its stored type only if that type is on the
allowlist (else as bytes), with `nosniff`, so a file that claims to be a picture cannot run as a page of this
site; and never cached (`private, no-store`), since it is the customer's. The name is offered in RFC 5987's
`filename*` so a Vietnamese name arrives as written, with an ASCII `filename` for older programs.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from activities.attachments import AttachmentStore, AttachmentUnreadable, StoredAttachment
from domain.attachments import ALLOWED_TYPES, ATTACHMENT_ID_PATTERN, DEFAULT_FILE_NAME, AttachmentRef
from domain.fields import COMPLAINT_ID_PATTERN
from web.labels import N_
from web.pages import Pages

log = structlog.get_logger(__name__)

UNREADABLE = N_("This file cannot be decrypted with this server's keys; ask an administrator.")

_ASCII_LETTERS = str.maketrans({"đ": "d", "Đ": "D"})
"""Vietnamese letters NFKD does not take apart."""


def ascii_file_name(name: str) -> str:
    """`Hóa đơn.pdf` as `Hoa don.pdf`: the `filename` for a program that does not read `filename*`."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_ASCII_LETTERS))
    kept = "".join(char for char in decomposed if not unicodedata.combining(char))
    text = "".join(char if 0x20 <= ord(char) < 0x7F and char not in '"\\;%' else "_" for char in kept).strip()
    return text or DEFAULT_FILE_NAME


def content_disposition(name: str) -> str:
    """`attachment` with both names: the ASCII one quoted, the real one as RFC 5987 UTF-8 percent-encoding."""
    return f"attachment; filename=\"{ascii_file_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"


class AttachmentPages:
    """`/complaints/{id}/attachments/{attachment_id}`, and the list the complaint page shows.

    `store` is None when the process has no key ring to read files with: the page lists nothing then."""

    def __init__(self, pages: Pages, store: AttachmentStore | None) -> None:
        self.pages = pages
        self.store = store

    def routes(self) -> list[Route]:
        return [Route("/complaints/{complaint_id}/attachments/{attachment_id}", self.download, methods=["GET"])]

    async def listed(self, complaint_id: str) -> list[StoredAttachment]:
        return [] if self.store is None else await self.store.list(complaint_id)

    async def download(self, request: Request) -> Response:
        ctx = await self.pages.signed_in(request)
        complaint_id = request.path_params["complaint_id"]
        attachment_id = request.path_params["attachment_id"]
        found = None
        if (
            self.store is not None
            and COMPLAINT_ID_PATTERN.fullmatch(complaint_id)
            and ATTACHMENT_ID_PATTERN.fullmatch(attachment_id)
        ):
            try:
                found = await self.store.get(complaint_id, attachment_id)
            except AttachmentUnreadable:
                raise HTTPException(500, ctx.tr.gettext(UNREADABLE)) from None
        if found is None:  # another complaint's file is none of this one's
            raise HTTPException(404, ctx.tr.gettext("No such attachment."))
        ref, data = found
        log.info("attachment downloaded", complaint_id=complaint_id, attachment_id=attachment_id, size=ref.size)
        return attachment_response(ref, data)


def attachment_response(ref: AttachmentRef, data: bytes) -> Response:
    """A customer's file as a download, for staff and for the customer alike: only an allowed type is named as
    such, never sniffed into another, never cached on the way."""
    return Response(
        data,
        headers={
            "Content-Type": ref.content_type if ref.content_type in ALLOWED_TYPES else "application/octet-stream",
            "Content-Disposition": content_disposition(ref.name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
