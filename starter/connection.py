"""Connecting to Temporal the same way from every process: envconfig, and the pydantic data converter."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

DEFAULT_ADDRESS = "localhost:7233"


async def connect_temporal(address: str | None = None, **overrides: Any) -> Client:
    """Connect with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TLS from the environment or the
    Temporal config file; `address` wins when given (the embedded stack knows where it started its server)."""
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    if address is not None:
        config["target_host"] = address
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.update(overrides)
    return await Client.connect(**config, data_converter=pydantic_data_converter)


async def register_search_attributes(client: Client) -> None:
    """Register the complaint search attributes on a server that lacks them (a fresh cluster, the test server).

    One at a time, ignoring those already there, so this is safe on every start (the time-skipping test
    server cannot list them).
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.service import RPCError, RPCStatusCode

    from workflows.visibility import ALL_KEYS

    for key in ALL_KEYS:
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
