"""The web form's own settings, from `COMPLAINTS_*` environment variables, on top of every process's settings
(`starter.settings.Settings`: the company profile, the receipt window, ...); the embedded stack needs none."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from starter.settings import Settings, secret_or_made_once

SECRET_FILE = "session_secret"
"""Generated in the data directory on first start when COMPLAINTS_SESSION_SECRET is unset."""
RETRY_AFTER_SECONDS = 10
"""`Retry-After` on the answers given while PostgreSQL is unreachable: about what a restart of it takes."""
EMBEDDED_HOSTS = ("localhost", "127.0.0.1", "[::1]", "testserver")
"""The names the embedded stack is reached by, and `testserver`, the host of in-process test clients."""


class WebSettings(Settings):
    """The one settings object with the web form's fields added: one way to read configuration."""

    session_secret: SecretStr | None = None
    """Signs the cookie of visitors not signed in yet (the sign-in form's CSRF token); signed-in sessions are rows
    in PostgreSQL. Every web process behind one load balancer needs the same one."""
    temporal_ui: str | None = None
    """Base URL of the Temporal Web UI (`http://localhost:8233` on the embedded stack); no link when unset."""
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    secure_cookies: bool = False
    """Set behind HTTPS, so the session cookie is never sent in clear."""
    proxy_headers: bool = False
    """`COMPLAINTS_PROXY_HEADERS`: behind a reverse proxy, take the client's address (and scheme) from its
    `X-Forwarded-For` / `X-Forwarded-Proto`, so the portal's throttle counts each customer's address rather than the
    proxy's. Only from the addresses in `forwarded_allow_ips`: anyone else could claim any address."""
    forwarded_allow_ips: str = "127.0.0.1"
    """`COMPLAINTS_FORWARDED_ALLOW_IPS`: the proxies trusted for those headers, comma-separated (`10.0.0.5`, a
    network such as `172.16.0.0/12`, or `*` when only the proxy can reach the web process at all)."""
    session_max_age: int = 12 * 3600
    """Seconds a sign-in lasts (from sign-in, not from the last request): one working day and some."""
    sign_in_window_seconds: int = Field(default=15 * 60, ge=1)
    """The window the failed sign-ins below are counted in; past the limit, sign-in waits until it ends."""
    sign_in_failures_per_account: int = Field(default=5, ge=1)
    """Failed sign-ins one account may take per window, from anywhere: guessing one password stays slow."""
    sign_in_failures_per_address: int = Field(default=20, ge=1)
    """Failed sign-ins one client address may make per window, over all accounts: spraying many accounts stays
    slow too, while an office behind one address still has room for people mistyping."""
    portal_grant_seconds: int = Field(default=2 * 3600, ge=60)
    """How long a browser keeps a case it opened in the customers' portal (by its number and contact, or by a
    link) before it must open it again: a shared or lost phone does not show the case for long."""
    portal_window_seconds: int = Field(default=15 * 60, ge=1)
    """The window the portal's lookups and actions below are counted in (shared by every web process)."""
    portal_lookups_per_address: int = Field(default=20, ge=1)
    """Case lookups (number + phone or e-mail) one client address may make per window: guessing stays slow."""
    portal_lookups_per_case: int = Field(default=10, ge=1)
    """Lookups of one case number per window, from anywhere: guessing one customer's phone stays slow."""
    portal_complaints_per_address: int = Field(default=5, ge=1)
    """Complaints one client address may send per window: a person sends one; a script sends hundreds."""
    portal_actions_per_case: int = Field(default=20, ge=1)
    """Answers, disagreements and withdrawals on one case per window."""
    portal_max_upload_bytes: int = Field(default=25 * 1024 * 1024, ge=64 * 1024)
    """The largest post the portal reads (a form with its files); a bigger one is refused before it is read. Each
    file is also held to the attachment store's own per-file limit."""
    portal_temporal_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a portal complaint or action waits for the workflow before the customer is asked to send the form
    again (safe: the form's one-time id makes the second sending the same complaint or action)."""
    portal_form_min_seconds: float = Field(default=2.0, ge=0)
    """A portal form sent back sooner than this after it was shown is a robot's (the bot trap's clock): the sender
    is asked to try again."""
    page_size: int = 25
    codec_token: SecretStr | None = None
    """`COMPLAINTS_CODEC_TOKEN`: a bearer token that may use `/codec/decode` and `/codec/encode` without a session
    (the `temporal` CLI's `--codec-auth`, a UI on another site). Unset: only signed-in managers and admins."""
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(EMBEDDED_HOSTS))
    """`COMPLAINTS_ALLOWED_HOSTS`, comma-separated (`complaints.example.vn,*.example.vn`): the `Host` headers
    answered; any other is 400, so a rebinding DNS name or a forged host never reaches a page."""
    metrics_token: SecretStr | None = None
    """`COMPLAINTS_METRICS_TOKEN`: the bearer token Prometheus sends for `/metrics`. Unset: `/metrics` is 404,
    since request counts by route tell an outsider how the form is used."""

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """A comma-separated list from the environment; a bare IPv6 address gets the brackets a Host header has."""
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, list | tuple):
            return value
        hosts = [str(name).strip().lower() for name in names if str(name).strip()]
        return [f"[{host}]" if ":" in host and not host.startswith("[") else host for host in hosts]

    def secret(self) -> str:
        """The session secret: from the environment, or from a file in the data directory made once (0600)."""
        return secret_or_made_once(self.session_secret, self.data_dir, SECRET_FILE)

    def workflow_url(self, complaint_id: str) -> str | None:
        if not self.temporal_ui:
            return None
        base = self.temporal_ui.rstrip("/")
        return f"{base}/namespaces/{self.temporal_namespace}/workflows/complaint-{complaint_id}"
