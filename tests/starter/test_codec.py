"""The payload codec and its keys, without a server: sealing, naming keys, rotation, key files, refusal without."""

from __future__ import annotations

import base64
import json
import stat
import traceback
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from starter.codec import (
    DEV_KEY_FILE,
    ENCODING,
    FAILURE_LIMIT,
    KEY_ID,
    REFUSED_ENCODING,
    UNENCRYPTED,
    UNENCRYPTED_MESSAGE,
    EncryptionCodec,
    EncryptionKey,
    EncryptionKeyError,
    KeyRing,
    PayloadDecryptionError,
    complaints_data_converter,
    configured_key_ring,
    ensure_key_file,
    write_key_file,
)
from starter.connection import MissingEncryptionKeys, connect_temporal, key_ring_from_settings
from starter.settings import Settings

KEY_A = EncryptionKey("a", bytes(range(32)))
KEY_B = EncryptionKey("b", bytes(range(32, 64)))
SECRET = "Trần Thị Bích, 0912345678"


def json_payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text, ensure_ascii=False).encode())


async def test_a_payload_is_sealed_and_names_its_key() -> None:
    codec = EncryptionCodec(KeyRing([KEY_A]))
    original = json_payload(SECRET)
    [sealed] = await codec.encode([original])
    assert dict(sealed.metadata) == {"encoding": ENCODING, KEY_ID: b"a"}
    assert SECRET.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the inner metadata is sealed too
    assert await codec.decode([sealed]) == [original]
    [again] = await codec.encode([original])
    assert again.data != sealed.data  # a fresh nonce every time


async def test_the_newest_key_encrypts_and_any_known_key_decrypts() -> None:
    old, rotated = EncryptionCodec(KeyRing([KEY_A])), EncryptionCodec(KeyRing([KEY_A, KEY_B]))
    [under_a] = await old.encode([json_payload(SECRET)])
    [under_b] = await rotated.encode([json_payload(SECRET)])
    assert (under_a.metadata[KEY_ID], under_b.metadata[KEY_ID]) == (b"a", b"b")
    assert await rotated.decode([under_a, under_b]) == [json_payload(SECRET)] * 2
    with pytest.raises(PayloadDecryptionError, match="'b'"):
        old.decrypt(under_b)
    # the safe roll-out order: B known everywhere first, A still the newest
    assert KeyRing([KEY_B, KEY_A]).newest.key_id == "a"


async def test_altered_ciphertext_or_a_swapped_key_id_is_refused() -> None:
    codec = EncryptionCodec(KeyRing([KEY_A, KEY_B]))
    [sealed] = await codec.encode([json_payload(SECRET)])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="altered"):
        codec.decrypt(tampered)
    swapped = Payload()
    swapped.CopyFrom(sealed)
    swapped.metadata[KEY_ID] = b"a"  # the key id is bound to the ciphertext
    with pytest.raises(PayloadDecryptionError):
        codec.decrypt(swapped)


async def test_what_is_not_sealed_with_our_keys_is_refused_never_raised_and_never_read() -> None:
    """The worker's codec: a payload in clear text, under an unknown key or altered is handed on as the refused
    marker (one report each), which the converter reads as the non-retryable `UnencryptedPayload` error; raising
    in the codec would fail the workflow task for ever."""
    reasons: list[str] = []
    codec = EncryptionCodec(KeyRing([KEY_A]), on_refused=reasons.append)
    [under_b] = await EncryptionCodec(KeyRing([KEY_B])).encode([json_payload(SECRET)])
    [sealed] = await codec.encode([json_payload(SECRET)])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    decoded = await codec.decode([json_payload("role: manager"), under_b, tampered, sealed])
    assert [p.metadata["encoding"] for p in decoded] == [REFUSED_ENCODING] * 3 + [b"json/plain"]
    assert all(not p.data for p in decoded[:3]), "nothing of a refused payload is passed on"
    assert [reason.split()[0:3] for reason in reasons] == [
        ["payload", "is", "not"],
        ["payload", "encrypted", "with"],
        ["payload", "under", "key"],
    ]
    converter = complaints_data_converter(KeyRing([KEY_A]))
    with pytest.raises(ApplicationError) as refused:
        converter.payload_converter.from_payloads([decoded[0]])
    assert refused.value.type == UNENCRYPTED and refused.value.non_retryable
    assert converter.payload_converter.from_payloads([decoded[3]]) == [SECRET]


async def test_the_refusal_is_the_one_failure_a_sender_without_the_key_can_read() -> None:
    converter = complaints_data_converter(KeyRing([KEY_A]))
    failure = Failure()
    await converter.encode_failure(ApplicationError(UNENCRYPTED_MESSAGE, type=UNENCRYPTED), failure)
    assert failure.message == UNENCRYPTED_MESSAGE and not failure.HasField("encoded_attributes")


async def test_the_ui_codec_shows_clear_text_as_it_is() -> None:
    codec = EncryptionCodec(KeyRing([KEY_A]), accept_unencrypted=True)
    assert await codec.decode([json_payload("old")]) == [json_payload("old")]


async def test_failure_messages_and_stack_traces_are_sealed() -> None:
    converter = complaints_data_converter(KeyRing([KEY_A]))
    try:
        raise ApplicationError(f"cannot reach {SECRET}", type="Refused")
    except ApplicationError as exc:
        failure = Failure()
        await converter.encode_failure(exc, failure)
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert SECRET.encode() not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == f"cannot reach {SECRET}"


async def test_causes_are_sealed_and_a_failure_read_back_seals_the_same_again() -> None:
    converter = complaints_data_converter(KeyRing([KEY_A]))
    try:
        try:
            raise OSError(f"socket of {SECRET}")
        except OSError as cause:
            raise RuntimeError("record not written") from cause
    except RuntimeError as exc:
        failure = Failure()
        await converter.encode_failure(exc, failure)
    assert SECRET.encode() not in failure.SerializeToString()
    assert failure.cause.message == "Encoded failure" and failure.cause.HasField("encoded_attributes")
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded.__cause__, ApplicationError) and decoded.__cause__.message == f"socket of {SECRET}"

    again = Failure()  # a workflow that fails with the error it read keeps both messages
    await converter.encode_failure(decoded, again)
    assert SECRET.encode() not in again.SerializeToString()
    read_again = await converter.decode_failure(again)
    assert read_again.message == "record not written"
    assert isinstance(read_again.__cause__, ApplicationError) and read_again.__cause__.message == f"socket of {SECRET}"


def nested(depth: int, path: str = "/run/postgresql/" * 200) -> None:
    if depth == 0:
        raise FileNotFoundError(2, "No such file or directory", path)
    nested(depth - 1, path)


def chained(levels: int) -> None:
    try:
        if levels == 0:
            nested(80)
        chained(levels - 1)
    except OSError as exc:
        raise ConnectionError(f"level {levels}: the database system is shutting down " + "é" * 2000) from exc


async def test_an_outage_failure_fits_what_temporal_keeps_and_still_names_its_root_cause() -> None:
    """Over 4 KiB, Temporal keeps an activity's last failure as "failure exceeds size limit": the reason is lost."""
    converter = complaints_data_converter(KeyRing([KEY_A]))
    try:
        chained(6)
    except ConnectionError as exc:
        failure = Failure()
        await converter.encode_failure(exc, failure)
    assert failure.ByteSize() < FAILURE_LIMIT
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.type == "ConnectionError"
    assert decoded.message.startswith("level 6: the database system is shutting down")
    assert "characters left out" in decoded.message
    root = decoded.__cause__
    while root is not None and root.__cause__ is not None:
        root = root.__cause__
    assert isinstance(root, ApplicationError) and root.type == "FileNotFoundError"
    assert "No such file or directory" in root.message


async def test_a_failure_within_the_budget_is_kept_whole() -> None:
    converter = complaints_data_converter(KeyRing([KEY_A]))
    try:
        nested(5, "/run/postgresql/.s.PGSQL.5432")
    except FileNotFoundError as exc:
        failure = Failure()
        await converter.encode_failure(exc, failure)
        stack = "\n".join(traceback.format_tb(exc.__traceback__))
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.failure is not None
    assert decoded.message == "[Errno 2] No such file or directory: '/run/postgresql/.s.PGSQL.5432'"
    assert decoded.failure.stack_trace == stack


def test_keys_from_the_environment_form() -> None:
    ring = KeyRing.from_spec(f" a:{KEY_A.base64()} , b:{KEY_B.base64()} ")
    assert (ring.key_ids, ring.newest.key_id) == (["a", "b"], "b")
    assert KeyRing.from_spec(ring.to_spec()).keys == ring.keys
    assert "secret" not in repr(ring) and KEY_A.base64() not in repr(ring) and KEY_A.base64() not in repr(KEY_A)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "empty"),
        ("a", "expected id:base64key"),
        ("a:not base64!", "not valid base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "needs 32 bytes, got 5"),
        (f"a:{KEY_A.base64()},a:{KEY_B.base64()}", "listed twice: a"),
        (f"bad id:{KEY_A.base64()}", "key id 'bad id'"),
    ],
)
def test_bad_key_specs_say_what_is_wrong(spec: str, problem: str) -> None:
    with pytest.raises(EncryptionKeyError, match=problem):
        KeyRing.from_spec(spec)


def test_key_files_json_and_toml(tmp_path: Path) -> None:
    listed = tmp_path / "keys.json"
    listed.write_text(json.dumps([{"id": "a", "key": KEY_A.base64()}, {"id": "b", "key": KEY_B.base64()}]))
    assert KeyRing.from_file(listed).newest == KEY_B
    toml = tmp_path / "keys.toml"
    toml.write_text(f'[[keys]]\nid = "a"\nkey = "{KEY_A.base64()}"\n')
    assert KeyRing.from_file(toml).keys == [KEY_A]
    written = tmp_path / "written.json"
    write_key_file(written, KeyRing([KEY_A, KEY_B]))
    assert KeyRing.from_file(written).keys == [KEY_A, KEY_B]
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_key_file(written, KeyRing([KEY_A]))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not valid JSON"),
        ('{"keys": 1}', "expected a list"),
        ('[{"id": "a"}]', "entry 1 needs string fields"),
        ("[]", "empty"),
    ],
)
def test_bad_key_files_name_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(EncryptionKeyError, match=problem) as raised:
        KeyRing.from_file(path)
    assert str(path) in str(raised.value)
    with pytest.raises(EncryptionKeyError, match="cannot read"):
        KeyRing.from_file(tmp_path / "missing.json")


def test_the_dev_key_file_is_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / DEV_KEY_FILE
    first = ensure_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.newest.secret) == 32
    path.chmod(0o644)
    assert ensure_key_file(path).keys == first.keys  # the same key on the next start
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_configured_keys_come_from_one_place(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyRing([KEY_B]))
    assert configured_key_ring(None, None) is None
    assert configured_key_ring("  ", None) is None
    assert configured_key_ring(f"a:{KEY_A.base64()}", None).keys == [KEY_A]  # type: ignore[union-attr]
    assert configured_key_ring(None, path).keys == [KEY_B]  # type: ignore[union-attr]
    with pytest.raises(EncryptionKeyError, match="not both"):
        configured_key_ring(f"a:{KEY_A.base64()}", path)
    with pytest.raises(EncryptionKeyError, match="COMPLAINTS_ENCRYPTION_KEYS: entry 1"):
        configured_key_ring("nonsense", None)


def test_settings_read_the_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COMPLAINTS_KEY_FILE", raising=False)
    monkeypatch.setenv("COMPLAINTS_ENCRYPTION_KEYS", f"a:{KEY_A.base64()}")
    settings = Settings()
    assert KEY_A.base64() not in repr(settings)  # a secret, also in a settings dump
    assert key_ring_from_settings(settings).keys == [KEY_A]
    monkeypatch.delenv("COMPLAINTS_ENCRYPTION_KEYS")
    fallback = tmp_path / DEV_KEY_FILE
    write_key_file(fallback, KeyRing([KEY_B]))
    assert key_ring_from_settings(Settings(), fallback).keys == [KEY_B]
    with pytest.raises(MissingEncryptionKeys, match="COMPLAINTS_ENCRYPTION_KEYS"):
        key_ring_from_settings(Settings())


async def test_nothing_connects_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTS_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("COMPLAINTS_KEY_FILE", raising=False)
    with pytest.raises(MissingEncryptionKeys):
        await connect_temporal("127.0.0.1:1")  # refused before any connection is tried
