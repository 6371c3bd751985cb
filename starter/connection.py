"""Connecting to Temporal the same way from every process: envconfig, pydantic, and encrypted payloads.

Every client and worker connects through `connect_temporal`, and it refuses to connect without an encryption key:
a process without one would write the customer's personal data to Temporal in clear text. The key ring comes from
the caller (the dev stack, the tests) or from COMPLAINTS_ENCRYPTION_KEYS / COMPLAINTS_KEY_FILE.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from activities.metrics import ComplaintMetrics
from starter.codec import EncryptionKeyError, KeyRing, complaints_data_converter, configured_key_ring
from starter.settings import Settings, load_settings

DEFAULT_ADDRESS = "localhost:7233"

log = structlog.get_logger(__name__)


class MissingEncryptionKeys(EncryptionKeyError):
    """No key configured: nothing may connect, or personal data would reach Temporal in clear text."""

    def __init__(self) -> None:
        super().__init__(
            "no encryption key configured: set COMPLAINTS_ENCRYPTION_KEYS (id:base64key[,id:base64key...]) or "
            "COMPLAINTS_KEY_FILE; `complaints dev` makes its own"
        )


def key_ring_from_settings(settings: Settings | None = None, fallback_file: Path | None = None) -> KeyRing:
    """The configured ring; else the one in `fallback_file` (a running dev stack's); else `MissingEncryptionKeys`."""
    settings = settings or load_settings()
    spec = settings.encryption_keys.get_secret_value() if settings.encryption_keys is not None else None
    ring = configured_key_ring(spec, settings.key_file)
    if ring is None and fallback_file is not None:
        ring = KeyRing.from_file(fallback_file)
    if ring is None:
        raise MissingEncryptionKeys()
    return ring


async def connect_temporal(
    address: str | None = None,
    *,
    key_ring: KeyRing | None = None,
    runtime: Runtime | None = None,
    **overrides: Any,
) -> Client:
    """Connect with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TLS from the environment or the
    Temporal config file; `address` wins when given (the embedded stack knows where it started its server).

    `key_ring` defaults to the configured keys; with none configured this raises `MissingEncryptionKeys` before
    connecting. `runtime` carries the worker's metrics endpoint (see `worker.metrics_runtime`).
    """
    ring = key_ring or key_ring_from_settings()
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address is not None:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    if runtime is not None:
        config["runtime"] = runtime
    config.update(overrides)
    metrics = ComplaintMetrics.of_runtime(runtime or Runtime.default())

    def refused(reason: str) -> None:
        metrics.unencrypted_refused.add(1)
        log.warning("payload refused: not sealed with a key of this service, so it is not applied", reason=reason)

    return await Client.connect(**config, data_converter=complaints_data_converter(ring, on_refused=refused))


@dataclass(frozen=True)
class NamespaceSetup:
    """What the client's namespace has of what the complaints need: a start in a namespace that lacks it fails."""

    exists: bool
    absent: tuple[str, ...] = ()
    """Search attributes not registered: the worker may register them where the server lets it."""
    mistyped: tuple[str, ...] = ()
    """Search attributes registered with another type (`Name: Int, not Keyword`): only an operator can fix them."""

    @property
    def ready(self) -> bool:
        return self.exists and not self.absent and not self.mistyped

    def missing(self) -> str:
        if not self.exists:
            return "the namespace"
        return ", ".join((*self.absent, *self.mistyped))


async def namespace_setup(client: Client) -> NamespaceSetup:
    """Whether the client's namespace exists with every complaint search attribute, each with its type."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.visibility import ALL_KEYS

    try:
        found = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return NamespaceSetup(exists=False)
        raise
    absent: list[str] = []
    mistyped: list[str] = []
    for key in ALL_KEYS:
        kind = found.custom_attributes.get(key.name)
        wanted = IndexedValueType.ValueType(int(key.indexed_value_type))
        if kind is None:
            absent.append(key.name)
        elif kind != wanted:
            named = IndexedValueType.Name
            short = "INDEXED_VALUE_TYPE_"
            mistyped.append(f"{key.name}: {named(kind).removeprefix(short)}, not {named(wanted).removeprefix(short)}")
    return NamespaceSetup(exists=True, absent=tuple(absent), mistyped=tuple(mistyped))


async def register_search_attributes(client: Client, names: Collection[str] | None = None) -> None:
    """Register the complaint search attributes (only `names` when given) on a server that lacks them (a fresh
    cluster, the test server).

    One at a time, ignoring those already there, so this is safe on every start (the time-skipping test
    server cannot list them).
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.visibility import ALL_KEYS

    for key in ALL_KEYS:
        if names is not None and key.name not in names:
            continue
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace,
                    search_attributes={key.name: IndexedValueType.ValueType(int(key.indexed_value_type))},
                )
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
