"""The attachment store on the real embedded PostgreSQL: files kept once per complaint, sealed with the key ring,
read back only with it, refused before anything is written, and never logged."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest
import structlog

from activities.attachments import AttachmentStore, AttachmentUnreadable
from domain.attachments import AttachmentRefusal, AttachmentRefused
from starter.codec import EncryptionKey, KeyRing

pytestmark = pytest.mark.postgres

INVOICE = "Hóa đơn tháng 10 — Nguyễn Văn An.pdf".encode().decode()
PDF = b"%PDF-1.7\n" + "Khách hàng Nguyễn Văn An, 0912 345 678".encode() + b"\n%%EOF\n"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([EncryptionKey.generate("attachments-1")])


@pytest.fixture
def store(pool: asyncpg.Pool, ring: KeyRing) -> AttachmentStore:
    return AttachmentStore(pool, ring, max_bytes=1024)


async def rows(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM attachments"))


async def test_round_trip(store: AttachmentStore) -> None:
    ref = await store.put("c-round", INVOICE, "application/pdf", PDF)
    assert (ref.name, ref.content_type, ref.size) == (INVOICE, "application/pdf", len(PDF))
    assert ref.sha256 == hashlib.sha256(PDF).hexdigest()
    assert await store.get("c-round", ref.attachment_id) == (ref, PDF)
    [listed] = await store.list("c-round")
    assert listed.ref == ref
    assert listed.created_at.tzinfo is not None


async def test_the_same_file_twice_is_one_row(store: AttachmentStore, pool: asyncpg.Pool) -> None:
    first = await store.put("c-twice", "a.pdf", "application/pdf", PDF)
    again = await store.put("c-twice", "b.pdf", "application/pdf; name=b.pdf", PDF)
    together = await asyncio.gather(*(store.put("c-twice", "c.pdf", "application/pdf", PDF) for _ in range(5)))
    assert again == first and set(together) == {first}
    assert [stored.ref for stored in await store.list("c-twice")] == [first]
    other = await store.put("c-twice-other", "a.pdf", "application/pdf", PDF)  # another complaint's copy is its own
    assert other.attachment_id != first.attachment_id
    assert await store.get("c-twice", other.attachment_id) is None


async def test_concurrent_puts_of_a_new_file_keep_one(store: AttachmentStore) -> None:
    data = b"a picture of the modem's lights"
    refs = await asyncio.gather(*(store.put("c-race", "modem.png", "image/png", data) for _ in range(8)))
    assert len(set(refs)) == 1
    assert len(await store.list("c-race")) == 1


async def test_stored_bytes_are_not_the_plaintext(store: AttachmentStore, pool: asyncpg.Pool, ring: KeyRing) -> None:
    ref = await store.put("c-sealed", "note.txt", "text/plain", PDF)
    row = await pool.fetchrow("SELECT key_id, sealed FROM attachments WHERE attachment_id = $1", ref.attachment_id)
    assert row["key_id"] == "attachments-1"
    sealed = bytes(row["sealed"])
    assert PDF not in sealed and b"0912 345 678" not in sealed and "Nguyễn".encode() not in sealed
    assert ring.decrypt(row["key_id"], sealed) == PDF


async def test_another_key_ring_cannot_read_it(store: AttachmentStore, pool: asyncpg.Pool, ring: KeyRing) -> None:
    ref = await store.put("c-keys", "a.png", "image/png", b"\x89PNG fake")
    stranger = AttachmentStore(pool, KeyRing([EncryptionKey.generate("someone-else")]))
    with pytest.raises(AttachmentUnreadable, match="attachments-1"):
        await stranger.get("c-keys", ref.attachment_id)
    rotated = AttachmentStore(pool, KeyRing([*ring.keys, EncryptionKey.generate("attachments-2")]))
    assert await rotated.get("c-keys", ref.attachment_id) == (ref, b"\x89PNG fake")  # an older key still reads
    same_id = AttachmentStore(pool, KeyRing([EncryptionKey.generate("attachments-1")]))  # same id, other secret
    with pytest.raises(AttachmentUnreadable, match="altered or corrupt"):
        await same_id.get("c-keys", ref.attachment_id)


@pytest.mark.parametrize(
    ("content_type", "data", "code"),
    [
        ("application/x-msdownload", b"MZ...", AttachmentRefusal.TYPE_NOT_ALLOWED),
        ("text/html", b"<script>", AttachmentRefusal.TYPE_NOT_ALLOWED),
        ("application/pdf", b"", AttachmentRefusal.EMPTY),
        ("application/pdf", b"x" * 1025, AttachmentRefusal.TOO_LARGE),
    ],
)
async def test_refusals_change_nothing(
    store: AttachmentStore, pool: asyncpg.Pool, content_type: str, data: bytes, code: AttachmentRefusal
) -> None:
    before = await rows(pool)
    with pytest.raises(AttachmentRefused) as refused:
        await store.put("c-refused", "x.exe", content_type, data)
    assert refused.value.code is code
    assert await rows(pool) == before
    assert await store.list("c-refused") == []


async def test_an_unknown_id_is_none(store: AttachmentStore) -> None:
    assert await store.get("c-none", "0" * 32) is None
    assert await store.get("c-none", "not-even-an-id") is None


async def test_nothing_about_the_file_is_logged(store: AttachmentStore) -> None:
    with structlog.testing.capture_logs() as logs:
        ref = await store.put("c-logs", INVOICE, "application/pdf", PDF)
        await store.get("c-logs", ref.attachment_id)
        stranger = AttachmentStore(store.pool, KeyRing([EncryptionKey.generate("someone-else")]))
        with pytest.raises(AttachmentUnreadable):
            await stranger.get("c-logs", ref.attachment_id)
    assert logs, "keeping a file is logged, by its id"
    text = repr(logs)
    assert ref.attachment_id in text
    for secret in ("Nguyễn", "Hóa đơn", "0912", ref.sha256, "%PDF"):
        assert secret not in text
