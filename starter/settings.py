"""One settings object for every process, read from the environment; the embedded stack needs none of it.

The Temporal connection is not here: it comes from `temporalio.envconfig` (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TLS), the SDK's own standard.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.policy import POLICY

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    """An existing PostgreSQL; unset, `complaints dev` runs an embedded one."""
    temporal_address: str | None = Field(default=None, validation_alias="TEMPORAL_ADDRESS")
    """Only read to decide whether `complaints dev` starts its own Temporal server."""
    task_queue: str = "complaints"
    data_dir: Path = PROJECT_ROOT / "data"
    calendar_file: Path | None = None
    max_cached_workflows: int = 200
    """Workflows kept in the worker's memory; a complaint waiting on a timer outside the cache costs nothing.
    A cached complaint holds about 0.4 MiB (its sandbox and state), so the worker's memory stays within 1.5 times
    what it needs for 100 open complaints however many wait on their clocks (bench/RESULTS.md); an action on a
    complaint outside the 200 most recently active replays its short history first."""
    sticky_queue_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a complaint's next workflow task waits for the worker that has it cached before any worker takes it
    (replaying its history). Temporal's default; shorter moves the complaints of a crashed worker on sooner, at the
    price of more replays when a live worker is merely busy."""
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "cskh@localhost"
    encryption_keys: SecretStr | None = None
    """`id1:base64key,id2:base64key`, the last the newest (see `starter.codec`); or use `key_file`."""
    key_file: Path | None = None
    """A JSON or TOML key file instead of `encryption_keys`."""
    metrics_address: str = "127.0.0.1:9464"
    """Where the worker serves Prometheus metrics (`/metrics`); empty turns the endpoint off."""
    receipt_window_days: int = Field(default=POLICY.receipt_window.days, ge=1, le=3650)
    """`COMPLAINTS_RECEIPT_WINDOW_DAYS`: how many days before now a `received_at` may lie (a letter arriving
    late); an earlier one is refused at every door."""

    @property
    def receipt_window(self) -> timedelta:
        return timedelta(days=self.receipt_window_days)


def load_settings() -> Settings:
    return Settings()
