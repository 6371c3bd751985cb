"""One settings object for every process, read from the environment; the embedded stack needs none of it.

This is the one module that reads the environment: processes hand what the layers below need to them as plain
values (a calendar, a company profile, an SMTP transport). The Temporal connection is not here: it comes from
`temporalio.envconfig` (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS), the SDK's own standard.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from activities.database import dsn_with_password
from activities.notifications import NotificationSettings
from activities.outbox import SmtpTransport
from domain.attachments import DEFAULT_MAX_ATTACHMENT_BYTES
from domain.calendar import WorkingCalendar, load_calendar
from domain.case_link import DEFAULT_LIFETIME, CaseLinks
from domain.company import CompanyProfile, CompanyProfileError, parse_company_profile
from domain.policy import POLICY

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COMPANY_PROFILE = Path(__file__).resolve().parent / "company.toml"
"""The profile the embedded stack uses when `COMPLAINTS_COMPANY_PROFILE` is unset."""
MOVED_TO_PROFILE = {
    "company_name": "legal_name",
    "staff_email_department": "departments[].mailbox",
    "staff_email_department_head": "departments[].head_mailbox",
}
"""Settings of earlier versions that the company profile now holds: set, they are refused rather than ignored."""
CASE_LINK_KEY_FILE = "case_link_key"
"""Generated in the data directory on first start when COMPLAINTS_CASE_LINK_KEY is unset."""


class SettingsError(ValueError):
    """A setting that cannot be used; the message names its environment variable."""


def load_company_profile(path: Path | None = None) -> CompanyProfile:
    """The profile in `path`, or the built-in default; `CompanyProfileError` names the file and the field."""
    path = path or DEFAULT_COMPANY_PROFILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CompanyProfileError(f"{path}: cannot read the company profile: {exc}") from None
    return parse_company_profile(text, str(path))


class SecretFiles(PydanticBaseSettingsSource):
    """Each secret's file variant: `COMPLAINTS_SESSION_SECRET_FILE=/run/secrets/session_secret` reads the secret
    from that file (Docker's `*_FILE` convention, as the postgres image has it), so a compose file or a process
    listing never holds the secret itself. The secrets are the `SecretStr` fields and `DATABASE_URL`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every file variant at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in secret_fields(self.settings_cls):
            field = self.settings_cls.model_fields[name]
            variable = _variable(name, self.settings_cls)
            path = os.environ.get(f"{variable}_FILE", "").strip()
            if not path:
                continue
            if os.environ.get(variable, "").strip():
                raise SettingsError(f"set {variable} or {variable}_FILE, not both")
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise SettingsError(f"{variable}_FILE: cannot read {path}: {reason}") from None
            if not value:
                raise SettingsError(f"{variable}_FILE: {path} is empty")
            alias = field.validation_alias
            values[alias if isinstance(alias, str) else name] = value
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, SecretFiles(settings_cls), env_settings, dotenv_settings, file_secret_settings

    def __init__(self, **values: Any) -> None:
        """A bad value is a `SettingsError` naming its environment variable (`COMPLAINTS_SMTP_SECURITY: ...`)."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_worded(type(self), exc)) from None

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    """An existing PostgreSQL; unset, `complaints dev` runs an embedded one. `DATABASE_URL_FILE` reads it from a
    file; or keep the password out of it with `COMPLAINTS_DATABASE_PASSWORD(_FILE)`."""
    database_password: SecretStr | None = None
    """Put into `DATABASE_URL`, which then names only the user: the compose file gives the same secret file to the
    records' PostgreSQL (`POSTGRES_PASSWORD_FILE`) and to the product (`COMPLAINTS_DATABASE_PASSWORD_FILE`)."""
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
    company_profile: Path | None = None
    """`COMPLAINTS_COMPANY_PROFILE`: the company's TOML profile (legal name, address, departments); unset, the
    built-in `starter/company.toml`."""
    smtp_host: str | None = None
    """Unset: the outbox is delivered to the log (no personal data in it)."""
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    """Unset: 465 with `ssl`, else 25."""
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    """`ssl` is implicit TLS (usually port 465)."""
    smtp_sender: str = "cskh@localhost"
    staff_email_supervisor: str = "supervisor@localhost"
    """The customer-care supervisor: a missed first response."""
    staff_email_manager: str = "manager@localhost"
    """The manager: a breached resolution, a plan waiting for approval."""
    company_name: str | None = None
    staff_email_department: str | None = None
    staff_email_department_head: str | None = None
    encryption_keys: SecretStr | None = None
    """`id1:base64key,id2:base64key`, the last the newest (see `starter.codec`); or use `key_file`."""
    key_file: Path | None = None
    """A JSON or TOML key file instead of `encryption_keys`."""
    attachment_max_bytes: int = Field(default=DEFAULT_MAX_ATTACHMENT_BYTES, ge=1)
    """`COMPLAINTS_ATTACHMENT_MAX_BYTES`: the largest file a complaint keeps (`activities.attachments`)."""
    mail_ingress_address: str = "127.0.0.1:2525"
    """`COMPLAINTS_MAIL_INGRESS_ADDRESS`: where `complaints mail-ingress` takes mail (SMTP), `host:port`."""
    mail_ingress_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """The largest message the ingress takes (refused at SMTP time with 552), files and encoding included."""
    mail_ingress_rate_per_minute: float = Field(default=20.0, gt=0)
    """Messages a minute one envelope sender may keep sending (a token bucket per ingress process); past it, and
    past `mail_ingress_rate_burst`, mail is deferred (451 4.7.1) and the sending server tries again later."""
    mail_ingress_rate_burst: int = Field(default=10, ge=1)
    mail_ingress_own_addresses: str = ""
    """Comma-separated addresses of the system besides `smtp_sender` (department mailboxes that forward to the
    ingress, say): mail from them is our own come back, and is dropped."""
    mail_ingress_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long a message waits for Temporal and PostgreSQL before the sender is told to try again (451 4.3.0)."""
    metrics_address: str = "127.0.0.1:9464"
    """Where the worker serves Prometheus metrics (`/metrics`); empty turns the endpoint off."""
    public_url: str = "http://localhost:8000"
    """`COMPLAINTS_PUBLIC_URL`: the web app's address as customers reach it (the proxy's `https://...`), which
    the links in their letters start with."""
    case_link_key: SecretStr | None = None
    """Signs the portal links in customers' letters (`domain.case_link`): the worker signs, the web app checks, so
    both need the same one. Unset: a file in the data directory made once (the embedded stack's processes share
    it)."""
    case_link_days: int = Field(default=DEFAULT_LIFETIME.days, ge=1, le=3650)
    """How many days a letter's portal link opens its case."""
    receipt_window_days: int = Field(default=POLICY.receipt_window.days, ge=1, le=3650)
    """`COMPLAINTS_RECEIPT_WINDOW_DAYS`: how many days before now a `received_at` may lie (a letter arriving
    late); an earlier one is refused at every door."""

    @model_validator(mode="after")
    def _nothing_moved_is_set(self) -> Settings:
        for name, field in MOVED_TO_PROFILE.items():
            if getattr(self, name):
                raise ValueError(f"{_variable(name)} is no longer read: set {field} in the company profile instead")
        return self

    @model_validator(mode="after")
    def _password_into_url(self) -> Settings:
        if self.database_password is None:
            return self
        if not self.database_url:
            raise ValueError("COMPLAINTS_DATABASE_PASSWORD is set but DATABASE_URL is not")
        if urlsplit(self.database_url).password is not None:
            raise ValueError("DATABASE_URL already has a password: give it there or in COMPLAINTS_DATABASE_PASSWORD")
        try:
            self.database_url = dsn_with_password(self.database_url, self.database_password.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"DATABASE_URL {exc}") from None
        return self

    @property
    def receipt_window(self) -> timedelta:
        return timedelta(days=self.receipt_window_days)

    def company(self) -> CompanyProfile:
        """The company profile (`COMPLAINTS_COMPANY_PROFILE`, or the built-in one); read when asked."""
        return load_company_profile(self.company_profile)

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar with the company's overrides (`COMPLAINTS_CALENDAR_FILE`)."""
        return load_calendar(self.calendar_file)

    def case_links(self) -> CaseLinks:
        """The portal's case links, with the key every process of one installation shares."""
        key = secret_or_made_once(self.case_link_key, self.data_dir, CASE_LINK_KEY_FILE)
        return CaseLinks(key.encode("utf-8"), timedelta(days=self.case_link_days))

    def notifications(self) -> NotificationSettings:
        """Whose name the letters carry, where staff messages go, and the portal link each letter to a customer
        carries: what the worker's records are given."""
        return NotificationSettings(
            company=self.company(),
            supervisor=self.staff_email_supervisor,
            manager=self.staff_email_manager,
            case_links=self.case_links(),
            public_url=self.public_url,
        )

    def smtp_transport(self) -> SmtpTransport | None:
        """The mail server, or None (no `COMPLAINTS_SMTP_HOST`): the outbox then goes to the log."""
        host = (self.smtp_host or "").strip()
        if not host:
            return None
        return SmtpTransport(
            host=host,
            port=self.smtp_port or (465 if self.smtp_security == "ssl" else 25),
            username=self.smtp_username or None,
            password=self.smtp_password.get_secret_value() if self.smtp_password else None,
            security=self.smtp_security,
        )


def secret_or_made_once(value: SecretStr | None, data_dir: Path, name: str) -> str:
    """A secret from the environment or, unset, from the file `name` in the data directory, made once (0600, 48
    random bytes): the embedded stack needs no configuration, and its processes, sharing the directory, agree."""
    if value is not None and value.get_secret_value().strip():
        return value.get_secret_value().strip()
    path = data_dir.expanduser().resolve() / name
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(48)
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(made + "\n")
    try:
        os.link(partial, path)  # another process may have written one meanwhile: the first one wins
    except FileExistsError:
        partial.unlink(missing_ok=True)
        return path.read_text(encoding="utf-8").strip()
    partial.unlink(missing_ok=True)
    return made


def secret_fields(model: type[BaseSettings]) -> list[str]:
    """The fields that have a `*_FILE` variant: the secrets, and `DATABASE_URL` (which may carry a password)."""
    return [
        name
        for name, field in model.model_fields.items()
        if name == "database_url" or "SecretStr" in str(field.annotation)
    ]


def setting_variables(model: type[BaseSettings] = Settings) -> set[str]:
    """Every environment variable `model` reads, file variants included: what a deployment may pass it."""
    names = {_variable(name, model) for name in model.model_fields if name not in MOVED_TO_PROFILE}
    return names | {f"{_variable(name, model)}_FILE" for name in secret_fields(model)}


def _variable(name: str, model: type[BaseSettings] = Settings) -> str:
    """The environment variable a field is read from."""
    field = model.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    return alias if isinstance(alias, str) else f"COMPLAINTS_{name.upper()}"


def _worded(model: type[BaseSettings], exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else ""
    message = err["msg"].removeprefix("Value error, ")
    if not name:
        return message
    field = model.model_fields.get(name)
    secret = field is not None and "SecretStr" in str(field.annotation)
    return f"{_variable(name, model)}: {message}" + ("" if secret else f" (got {err['input']!r})")


def load_settings() -> Settings:
    return Settings()
