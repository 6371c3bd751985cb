"""The remote codec protocol of the Temporal UI and CLI, without a web framework: the web app mounts these on
`POST /codec/decode` and `POST /codec/encode` behind its sign-in, CORS and `X-Namespace` handling.

The body both ways is `{"payloads": [...]}`, each payload in protobuf's JSON form as the UI sends it:
`{"metadata": {"encoding": "<base64>", ...}, "data": "<base64>"}`. A body that is not that raises
`MalformedCodecRequest` (answer 400); a payload this process has no key for, or one that was altered, raises
`starter.codec.PayloadDecryptionError` (also a ValueError: answer 400 too, without the message if in doubt).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

MAX_PAYLOADS = 1000
"""More than the UI ever sends in one request; a guard against a body that would keep the server busy."""


class MalformedCodecRequest(ValueError):
    """The request body is not `{"payloads": [...]}` with payloads in protobuf JSON form."""


def parse_payloads(body: bytes) -> list[Payload]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedCodecRequest("the body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("payloads"), list):
        raise MalformedCodecRequest('expected a JSON object {"payloads": [...]}')
    if set(document) != {"payloads"}:
        raise MalformedCodecRequest(f"unexpected fields: {', '.join(sorted(set(document) - {'payloads'}))}")
    items: list[Any] = document["payloads"]
    if len(items) > MAX_PAYLOADS:
        raise MalformedCodecRequest(f"more than {MAX_PAYLOADS} payloads in one request")
    payloads = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedCodecRequest(f"payloads[{position}]: expected an object")
        try:
            payloads.append(json_format.ParseDict(item, Payload()))
        except json_format.ParseError as exc:
            raise MalformedCodecRequest(f"payloads[{position}]: {exc}") from None
    return payloads


def render_payloads(payloads: Sequence[Payload]) -> bytes:
    rendered = [json_format.MessageToDict(payload) for payload in payloads]
    return json.dumps({"payloads": rendered}, separators=(",", ":")).encode()


async def _transform(body: bytes, transform: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]) -> bytes:
    payloads = parse_payloads(body)
    return render_payloads(await transform(payloads) if payloads else [])


async def decode_payloads(body: bytes, codec: PayloadCodec) -> bytes:
    """`/codec/decode`: the UI's encrypted payloads, decrypted (payloads that were never encrypted as they are)."""
    return await _transform(body, codec.decode)


async def encode_payloads(body: bytes, codec: PayloadCodec) -> bytes:
    """`/codec/encode`: payloads the UI wants to send (a signal, an update), encrypted with the newest key."""
    return await _transform(body, codec.encode)
