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
