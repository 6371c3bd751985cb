"""The attachment store: customers' files in PostgreSQL, encrypted at rest with the payload key ring.

A file is kept once per complaint, found again by its SHA-256, so a mail delivered twice (or an activity retried)
stores nothing twice and hands back the same `AttachmentRef`. The bytes are sealed by the same key ring as
Temporal's payloads (`starter.codec.KeyRing`, AES-256-GCM, the key id stored with the row), so rotating keys
works the same way for both. Only ids, types and sizes are ever logged: a file's name and content may be the
customer's personal data.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
import structlog

from domain.attachments import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    AttachmentRef,
    allowed_type,
    check_size,
    safe_file_name,
)

log = structlog.get_logger(__name__)


class Sealer(Protocol):
    """What the store needs of a key ring: `starter.codec.KeyRing` is one (it lives above this layer)."""

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]: ...

    def decrypt(self, key_id: str, sealed: bytes) -> bytes: ...


class AttachmentUnreadable(RuntimeError):
    """A stored file that this process cannot decrypt: its key is not in the ring, or the row was altered."""


_COLUMNS = "attachment_id, name, content_type, size, sha256"

_INSERT = f"""
INSERT INTO attachments (attachment_id, complaint_id, sha256, name, content_type, size, key_id, sealed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (complaint_id, sha256) DO NOTHING
RETURNING {_COLUMNS}
"""


def _ref(row: asyncpg.Record) -> AttachmentRef:
    return AttachmentRef(
        attachment_id=row["attachment_id"],
        name=row["name"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
    )


class AttachmentStore:
    """`put`, `get` and `list` the files of a complaint; `max_bytes` is the per-file limit (a setting)."""

    def __init__(self, pool: asyncpg.Pool, key_ring: Sealer, *, max_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES):
        self.pool = pool
        self.key_ring = key_ring
        self.max_bytes = max_bytes

    async def put(self, complaint_id: str, name: str, content_type: str, data: bytes) -> AttachmentRef:
        """Keep `data` for the complaint and return its reference; the same bytes again return the first reference
        (under the first name). A type off the allowlist, an empty file or one over the limit is refused with
        `AttachmentRefused` before anything is written."""
        check_size(len(data), self.max_bytes)
        content_type = allowed_type(content_type)
        sha256 = hashlib.sha256(data).hexdigest()
        existing = await self._find(complaint_id, sha256)
        if existing is not None:
            return existing
        key_id, sealed = self.key_ring.encrypt(data)
        safe_name = safe_file_name(name, content_type)
        row = await self.pool.fetchrow(
            _INSERT, uuid.uuid4().hex, complaint_id, sha256, safe_name, content_type, len(data), key_id, sealed
        )
        if row is None:  # another process kept the same file a moment ago: theirs is the one
            found = await self._find(complaint_id, sha256)
            assert found is not None, "the conflicting row is committed"
            return found
        ref = _ref(row)
        log.info(
            "attachment kept",
            complaint_id=complaint_id,
            attachment_id=ref.attachment_id,
            content_type=ref.content_type,
            size=ref.size,
        )
        return ref

    async def _find(self, complaint_id: str, sha256: str) -> AttachmentRef | None:
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM attachments WHERE complaint_id = $1 AND sha256 = $2", complaint_id, sha256
        )
        return None if row is None else _ref(row)

    async def get(self, complaint_id: str, attachment_id: str) -> tuple[AttachmentRef, bytes] | None:
        """The reference and the decrypted bytes, or None when the complaint has no such attachment (an id of
        another complaint's file is none of this one's). `AttachmentUnreadable` if this key ring cannot read it."""
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS}, key_id, sealed FROM attachments WHERE complaint_id = $1 AND attachment_id = $2",
            complaint_id,
            attachment_id,
        )
        if row is None:
            return None
        ref = _ref(row)
        try:
            data = self.key_ring.decrypt(row["key_id"], bytes(row["sealed"]))
        except ValueError as exc:  # the key ring's PayloadDecryptionError: an unknown key, or altered bytes
            log.warning(
                "attachment unreadable", complaint_id=complaint_id, attachment_id=attachment_id, key_id=row["key_id"]
            )
            raise AttachmentUnreadable(
                f"attachment {attachment_id} of complaint {complaint_id} cannot be decrypted: {exc}"
            ) from None
        return ref, data

    async def list(self, complaint_id: str) -> list[StoredAttachment]:
        """The complaint's files, oldest first, without their bytes (what the complaint page lists)."""
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS}, created_at FROM attachments WHERE complaint_id = $1"
            " ORDER BY created_at, attachment_id",
            complaint_id,
        )
        return [StoredAttachment(ref=_ref(row), created_at=row["created_at"]) for row in rows]


@dataclass(frozen=True)
class StoredAttachment:
    """A reference and when it was kept: a row of the complaint page's list."""

    ref: AttachmentRef
    created_at: datetime
