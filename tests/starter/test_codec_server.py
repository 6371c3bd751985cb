"""The codec-server logic, as the Temporal UI calls it: base64 payloads in JSON, both ways; malformed bodies refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from starter.codec import ENCODING, KEY_ID, EncryptionCodec, EncryptionKey, KeyRing, PayloadDecryptionError
from starter.codec_server import MAX_PAYLOADS, MalformedCodecRequest, decode_payloads, encode_payloads

CODEC = EncryptionCodec(KeyRing([EncryptionKey("ui-1", bytes(range(32)))]), accept_unencrypted=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ui_payload(value: Any) -> dict[str, Any]:
    """A payload as the UI sends it: protobuf JSON, bytes in base64."""
    return {
        "metadata": {"encoding": b64(b"json/plain")},
        "data": b64(json.dumps(value, ensure_ascii=False).encode()),
    }


async def test_encode_then_decode_round_trips() -> None:
    plain = [ui_payload({"customer": {"name": "Trần Thị Bích"}}), ui_payload("0912345678")]
    encoded = json.loads(await encode_payloads(json.dumps({"payloads": plain}).encode(), CODEC))
    assert len(encoded["payloads"]) == 2
    for payload in encoded["payloads"]:
        assert base64.b64decode(payload["metadata"]["encoding"]) == ENCODING
        assert base64.b64decode(payload["metadata"][KEY_ID]) == b"ui-1"
        assert "Bích".encode() not in base64.b64decode(payload["data"])
    decoded = json.loads(await decode_payloads(json.dumps(encoded).encode(), CODEC))
    assert decoded == {"payloads": plain}
    assert json.loads(base64.b64decode(decoded["payloads"][0]["data"])) == {"customer": {"name": "Trần Thị Bích"}}


async def test_clear_payloads_and_empty_lists_pass() -> None:
    body = json.dumps({"payloads": [ui_payload("x")]}).encode()
    assert json.loads(await decode_payloads(body, CODEC)) == {"payloads": [ui_payload("x")]}
    assert json.loads(await decode_payloads(b'{"payloads": []}', CODEC)) == {"payloads": []}
    empty = json.loads(await decode_payloads(b'{"payloads": [{}]}', CODEC))
    assert empty == {"payloads": [{}]}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"payload": []}', "expected a JSON object"),
        (b'{"payloads": {}}', "expected a JSON object"),
        (b'{"payloads": [], "extra": 1}', "unexpected fields: extra"),
        (b'{"payloads": [1]}', r"payloads\[0\]: expected an object"),
        (b'{"payloads": [{"data": "not base64!"}]}', r"payloads\[0\]"),
        (b'{"payloads": [{"metadata": {"encoding": 5}}]}', r"payloads\[0\]"),
        (b'{"payloads": [{"colour": "red"}]}', r"payloads\[0\]"),
        (json.dumps({"payloads": [{}] * (MAX_PAYLOADS + 1)}).encode(), "more than"),
    ],
)
async def test_a_malformed_body_is_refused(body: bytes, problem: str) -> None:
    for transform in (decode_payloads, encode_payloads):
        with pytest.raises(MalformedCodecRequest, match=problem) as raised:
            await transform(body, CODEC)
        assert isinstance(raised.value, ValueError)


async def test_a_payload_under_an_unknown_key_is_refused() -> None:
    other = EncryptionCodec(KeyRing([EncryptionKey("elsewhere", bytes(32))]))
    sealed = await encode_payloads(json.dumps({"payloads": [ui_payload("x")]}).encode(), other)
    with pytest.raises(PayloadDecryptionError, match="elsewhere") as raised:
        await decode_payloads(sealed, CODEC)
    assert isinstance(raised.value, ValueError)
