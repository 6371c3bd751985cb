"""Encrypted payloads: what reaches Temporal (inputs, results, signals, updates, queries, activity arguments, memo,
user metadata, failure messages and stack traces) is AES-256-GCM ciphertext that names its key.

A complaint carries the customer's name, phone, e-mail and own words; anyone who can read the cluster's history
must not read those. Only processes holding a key (workers, clients, the codec server behind the operators'
sign-in) see them.

Keys rotate while complaints are in flight: the `KeyRing` decrypts with any key it knows and encrypts with the
newest, which is the *last* one listed. To rotate without a moment where some process cannot read what another
wrote: first deploy `new,old` everywhere (the new key known, the old still newest), then `old,new` (the new key
newest), and drop the old key only once no history that uses it is still needed.

Keys come from `COMPLAINTS_ENCRYPTION_KEYS` (`id1:base64key,id2:base64key`) or from a key file
(`COMPLAINTS_KEY_FILE`; JSON `{"keys": [{"id": ..., "key": ...}]}` or a bare list of those, or TOML with
`[[keys]]` tables); `complaints dev` creates one in its data directory on first start.

Only holders of a key can act on a complaint. A payload that is not sealed with a key of the ring (sent in
clear text by someone who reaches the Temporal frontend with the plain `temporal` CLI, stating any role; or under
an unknown key; or altered) is never applied, and must not jam the complaint either: a codec that raised while
the worker decodes an activation would fail the whole workflow task, which Temporal retries for ever. So the
codec hands such a payload on as a `refused` marker (counted, one log line), and the payload converter turns the
marker into a non-retryable `UnencryptedPayload` error where the SDK reads the argument: an update is refused
with that error, a signal is dropped, a start fails at once, and every other event of the complaint is applied
as usual. The Temporal UI's codec endpoint reads plain payloads as they are (`accept_unencrypted`): it only
displays them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    EncodingPayloadConverter,
    PayloadCodec,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

ENCODING = b"binary/encrypted"
"""The `encoding` metadata of an encrypted payload (Temporal's convention for encrypted data)."""
KEY_ID = "encryption-key-id"
"""The metadata entry naming the key a payload was encrypted with."""
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
DEV_KEY_FILE = "encryption-keys.json"
"""The key file `complaints dev` keeps in its data directory."""
REFUSED_ENCODING = b"binary/refused-unencrypted"
"""What the codec hands on in place of a payload that arrived without encryption (it carries no data)."""
UNENCRYPTED = "UnencryptedPayload"
"""Error type of the refusal: an update answers with it, a start fails with it, a signal is dropped."""
UNENCRYPTED_MESSAGE = (
    "refused: the payload was not encrypted with the complaints key; only key holders may act on complaints"
)


class EncryptionKeyError(ValueError):
    """The configured keys are missing or unusable; the message says which and how to fix it."""


class PayloadDecryptionError(ValueError):
    """A payload cannot be decrypted: its key is not in the ring, or the ciphertext was altered."""


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.fullmatch(self.key_id):
            raise EncryptionKeyError(
                f"key id {self.key_id!r}: use 1 to 64 letters, digits, '.', '_' or '-' (it is stored in clear)"
            )
        if len(self.secret) != KEY_BYTES:
            raise EncryptionKeyError(
                f"key {self.key_id}: AES-256 needs {KEY_BYTES} bytes, got {len(self.secret)} "
                "(make one with `python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())'`)"
            )

    @classmethod
    def generate(cls, key_id: str) -> EncryptionKey:
        return cls(key_id, os.urandom(KEY_BYTES))

    @classmethod
    def from_base64(cls, key_id: str, text: str) -> EncryptionKey:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionKeyError(f"key {key_id}: not valid base64") from None
        return cls(key_id, secret)

    def base64(self) -> str:
        return base64.b64encode(self.secret).decode("ascii")


class KeyRing:
    """The keys one process knows: decrypts with any of them, encrypts with the newest (the last)."""

    def __init__(self, keys: Iterable[EncryptionKey]) -> None:
        self._keys = list(keys)
        if not self._keys:
            raise EncryptionKeyError("the key ring is empty")
        ids = [key.key_id for key in self._keys]
        duplicates = sorted({key_id for key_id in ids if ids.count(key_id) > 1})
        if duplicates:
            raise EncryptionKeyError(f"key id listed twice: {', '.join(duplicates)}")
        self._ciphers = {key.key_id: AESGCM(key.secret) for key in self._keys}

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.key_ids!r}, newest={self.newest.key_id!r})"

    @property
    def newest(self) -> EncryptionKey:
        return self._keys[-1]

    @property
    def key_ids(self) -> list[str]:
        return [key.key_id for key in self._keys]

    @property
    def keys(self) -> list[EncryptionKey]:
        return list(self._keys)

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        """(key id, nonce + ciphertext + tag). The key id is bound as associated data: it cannot be swapped."""
        key_id = self.newest.key_id
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + self._ciphers[key_id].encrypt(nonce, plaintext, key_id.encode())

    def decrypt(self, key_id: str, sealed: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key {key_id!r}, which this process does not have (it has {self.key_ids})"
            )
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadDecryptionError(f"payload under key {key_id!r} does not decrypt: altered or corrupt") from None

    # ---- where keys come from ----

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """`id1:base64key,id2:base64key` (the form of COMPLAINTS_ENCRYPTION_KEYS); the last is the newest."""
        keys = []
        for position, item in enumerate(part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, secret = item.partition(":")
            if not sep:
                raise EncryptionKeyError(f"entry {position + 1}: expected id:base64key")
            keys.append(EncryptionKey.from_base64(key_id.strip(), secret))
        return cls(keys)

    def to_spec(self) -> str:
        return ",".join(f"{key.key_id}:{key.base64()}" for key in self._keys)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """A JSON or TOML key file (TOML when it ends in `.toml`)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EncryptionKeyError(f"key file {path}: cannot read it: {exc.strerror or exc}") from None
        try:
            raw: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            kind = "TOML" if path.suffix == ".toml" else "JSON"
            raise EncryptionKeyError(f"key file {path}: not valid {kind}: {exc}") from None
        entries = raw.get("keys") if isinstance(raw, dict) else raw
        if not isinstance(entries, list):
            raise EncryptionKeyError(f"key file {path}: expected a list of keys (or a `keys` list)")
        keys = []
        for position, entry in enumerate(entries):
            if not (isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("key"), str)):
                raise EncryptionKeyError(f"key file {path}: entry {position + 1} needs string fields `id` and `key`")
            try:
                keys.append(EncryptionKey.from_base64(entry["id"], entry["key"]))
            except EncryptionKeyError as exc:
                raise EncryptionKeyError(f"key file {path}: {exc}") from None
        try:
            return cls(keys)
        except EncryptionKeyError as exc:
            raise EncryptionKeyError(f"key file {path}: {exc}") from None


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write `ring` as a JSON key file readable by its owner only (0600), refusing to overwrite one."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    text = json.dumps(
        {"keys": [{"id": key.key_id, "key": key.base64(), "created_at": created} for key in ring.keys]}, indent=2
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")


def ensure_key_file(path: Path) -> KeyRing:
    """The ring in `path`, creating it with one fresh key on first use (`complaints dev`'s data directory)."""
    if not path.exists():
        key_id = "dev-" + datetime.now(UTC).strftime("%Y%m%d")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            write_key_file(path, KeyRing([EncryptionKey.generate(key_id)]))
    os.chmod(path, 0o600)
    return KeyRing.from_file(path)


def configured_key_ring(spec: str | None, key_file: Path | None) -> KeyRing | None:
    """The ring from COMPLAINTS_ENCRYPTION_KEYS or COMPLAINTS_KEY_FILE; None when neither is set."""
    spec = (spec or "").strip() or None
    if spec is not None and key_file is not None:
        raise EncryptionKeyError("set COMPLAINTS_ENCRYPTION_KEYS or COMPLAINTS_KEY_FILE, not both")
    if spec is not None:
        try:
            return KeyRing.from_spec(spec)
        except EncryptionKeyError as exc:
            raise EncryptionKeyError(f"COMPLAINTS_ENCRYPTION_KEYS: {exc}") from None
    if key_file is not None:
        return KeyRing.from_file(key_file)
    return None


# ---- the codec and the data converter ----


class EncryptionCodec(PayloadCodec):
    """Each payload, metadata and data, serialised and sealed; the outer payload says only how and with which key.

    `on_refused` is called, with the reason, for each payload that is not sealed with a key of the ring (not
    encrypted, an unknown key, altered): the worker counts and logs it;
    `accept_unencrypted` reads such payloads as they are, for the UI's codec endpoint and for replaying histories
    recorded before encryption existed."""

    def __init__(
        self,
        key_ring: KeyRing,
        *,
        accept_unencrypted: bool = False,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.key_ring = key_ring
        self.accept_unencrypted = accept_unencrypted
        self.on_refused = on_refused

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    def for_display(self) -> EncryptionCodec:
        """The same keys, reading unencrypted payloads as they are: for the UI's codec endpoint, which only shows
        what is in a history (and there an unencrypted payload is what someone without the key sent)."""
        return EncryptionCodec(self.key_ring, accept_unencrypted=True)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decoded(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id, sealed = self.key_ring.encrypt(payload.SerializeToString())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=sealed)

    def decoded(self, payload: Payload) -> Payload:
        """The payload decrypted; one that is not sealed with a key of the ring becomes the `refused` marker, never
        an exception (see the module's docstring), unless this codec accepts unencrypted payloads (the UI's)."""
        if self.accept_unencrypted:
            return self.decrypt(payload)
        try:
            return self.decrypt(payload)
        except PayloadDecryptionError as exc:
            if self.on_refused is not None:
                self.on_refused(str(exc))
            return Payload(metadata={"encoding": REFUSED_ENCODING})

    def decrypt(self, payload: Payload) -> Payload:
        """The payload decrypted, or `PayloadDecryptionError`; an unencrypted one as it is if accepted."""
        if payload.metadata.get("encoding") != ENCODING:
            if self.accept_unencrypted:
                return payload
            raise PayloadDecryptionError("payload is not encrypted")
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        plain = Payload()
        try:
            plain.ParseFromString(self.key_ring.decrypt(key_id, payload.data))
        except PayloadDecryptionError:
            raise
        except Exception:  # decrypted, but not a payload: not ours
            raise PayloadDecryptionError(f"payload under key {key_id!r} does not hold a payload") from None
        return plain


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads the codec's `refused` marker as the `UnencryptedPayload` error; never writes anything."""

    @property
    def encoding(self) -> str:
        return REFUSED_ENCODING.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        raise ApplicationError(UNENCRYPTED_MESSAGE, type=UNENCRYPTED, non_retryable=True)


class ComplaintsPayloadConverter(CompositePayloadConverter):
    """Pydantic JSON, plus the refusal of payloads that arrived unencrypted.

    The SDK builds a new payload converter for every workflow activation and every serialization context; the
    encoding converters are made once and shared, so each of those is a dict, not a fresh pydantic serializer
    with an empty cache of type adapters to fill again."""

    def __init__(self) -> None:
        super().__init__(*_SHARED_CONVERTERS)


_SHARED_CONVERTERS = (RefusedPayloadConverter(), *PydanticPayloadConverter().converters.values())


FAILURE_LIMIT = 4 * 1024
"""Temporal keeps an activity's last failure only up to this size (`limit.mutableStateActivityFailureSize.error`);
a larger one it swaps for a bare `ServerError` "failure exceeds size limit", and the operator loses the reason."""
FAILURE_BUDGET = 3 * 1024
"""What a failure may take before encryption: the codec's nonce, tag and key id must still fit under the limit."""
MESSAGE_KEPT = 500
STACK_KEPT = 1200
ENCODED_MESSAGE = "Encoded failure"
"""What the SDK leaves as the message of a failure whose message moved into the encoded attributes."""


def shortened(text: str, kept: int) -> str:
    """The start and the end of a long text, which name where a failure arose and what it was."""
    if len(text) <= kept:
        return text
    head = kept // 3
    tail = kept - head
    return f"{text[:head]}\n… {len(text) - kept} characters left out …\n{text[-tail:]}"


def failure_chain(failure: Failure) -> list[Failure]:
    """The failure and its causes, outermost first."""
    chain = [failure]
    while chain[-1].HasField("cause"):
        chain.append(chain[-1].cause)
    return chain


def still_encoded(failure: Failure) -> bool:
    """A cause copied from a failure read earlier keeps its encoded attributes; encoding it again would lose them."""
    return failure.HasField("encoded_attributes") and failure.message == ENCODED_MESSAGE and not failure.stack_trace


def within_budget(failure: Failure) -> None:
    """Shortens messages and stack traces, then leaves out the causes between the failure and its root cause,
    until the failure fits `FAILURE_BUDGET`.

    An outage fails record activities with asyncpg's deep connection stack and a chain of causes; over Temporal's
    limit, the Web UI would show "failure exceeds size limit" instead of "the database system is shutting down"."""
    for level in failure_chain(failure):
        if not still_encoded(level):
            level.message = shortened(level.message, MESSAGE_KEPT)
            level.stack_trace = shortened(level.stack_trace, STACK_KEPT)
    while failure.ByteSize() > FAILURE_BUDGET and failure.cause.HasField("cause"):
        deeper = Failure()
        deeper.CopyFrom(failure.cause.cause)
        failure.cause.CopyFrom(deeper)
    if failure.ByteSize() > FAILURE_BUDGET and failure.HasField("cause"):
        failure.cause.stack_trace = ""
    if failure.ByteSize() > FAILURE_BUDGET:
        failure.stack_trace = shortened(failure.stack_trace, STACK_KEPT // 4)
    if failure.ByteSize() > FAILURE_BUDGET:
        failure.ClearField("cause")


class ComplaintsFailureConverter(DefaultFailureConverter):
    """Failure messages and stack traces go into the encrypted attributes, which can hold the customer's words,
    in a size Temporal keeps; only the refusal of an unencrypted payload stays readable, for the sender who has no
    key to read it with."""

    def __init__(self) -> None:
        super().__init__()
        self._plain = DefaultFailureConverter()
        """Converts the whole chain of causes first, so that the budget is spent on the chain, not level by level."""

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        self._plain.to_failure(exception, payload_converter, failure)
        within_budget(failure)
        if isinstance(exception, ApplicationError) and exception.type == UNENCRYPTED:
            return
        for level in failure_chain(failure):
            if still_encoded(level):
                continue
            attributes = {"message": level.message, "stack_trace": level.stack_trace}
            level.encoded_attributes.CopyFrom(payload_converter.to_payloads([attributes])[0])
            level.message = ENCODED_MESSAGE
            level.stack_trace = ""


def complaints_data_converter(
    key_ring: KeyRing, *, accept_unencrypted: bool = False, on_refused: Callable[[str], None] | None = None
) -> DataConverter:
    """Pydantic JSON, then AES-256-GCM; failure messages and stack traces moved into the encrypted attributes."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=ComplaintsPayloadConverter,
        payload_codec=EncryptionCodec(key_ring, accept_unencrypted=accept_unencrypted, on_refused=on_refused),
        failure_converter_class=ComplaintsFailureConverter,
    )


def encryption_codec_of(converter: DataConverter) -> EncryptionCodec | None:
    codec = converter.payload_codec
    return codec if isinstance(codec, EncryptionCodec) else None
