"""Secrets read from files (`*_FILE`), as the compose file mounts them: pure, no servers."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from starter.settings import Settings, SettingsError
from web.settings import WebSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "DATABASE_URL",
        "COMPLAINTS_DATABASE_PASSWORD",
        "COMPLAINTS_SESSION_SECRET",
        "COMPLAINTS_CASE_LINK_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
        monkeypatch.delenv(f"{variable}_FILE", raising=False)


def secret_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secret"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPLAINTS_SESSION_SECRET_FILE", str(secret_file(tmp_path, "s3cret-value\n")))
    settings = WebSettings()
    assert settings.session_secret is not None
    assert settings.secret() == "s3cret-value"


def test_the_database_password_file_goes_into_a_url_that_names_only_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://complaints@records-db:5432/complaints")
    monkeypatch.setenv("COMPLAINTS_DATABASE_PASSWORD_FILE", str(secret_file(tmp_path, "p@ss/word\n")))
    assert Settings().database_url == "postgresql://complaints:p%40ss%2Fword@records-db:5432/complaints"


def test_the_database_url_itself_may_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret_file(tmp_path, "postgresql://u:p@db/x\n")))
    assert Settings().database_url == "postgresql://u:p@db/x"


def test_a_missing_file_names_the_variable_and_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("COMPLAINTS_SESSION_SECRET_FILE", str(missing))
    with pytest.raises(SettingsError) as refused:
        WebSettings()
    assert str(refused.value) == f"COMPLAINTS_SESSION_SECRET_FILE: cannot read {missing}: No such file or directory"


def test_an_empty_file_names_the_variable_and_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = secret_file(tmp_path, "\n")
    monkeypatch.setenv("COMPLAINTS_DATABASE_PASSWORD_FILE", str(empty))
    with pytest.raises(SettingsError) as refused:
        Settings()
    assert str(refused.value) == f"COMPLAINTS_DATABASE_PASSWORD_FILE: {empty} is empty"


def test_a_secret_given_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_SESSION_SECRET", "inline")
    monkeypatch.setenv("COMPLAINTS_SESSION_SECRET_FILE", str(secret_file(tmp_path, "from a file")))
    with pytest.raises(SettingsError, match="set COMPLAINTS_SESSION_SECRET or COMPLAINTS_SESSION_SECRET_FILE"):
        WebSettings()


def test_a_password_beside_a_url_that_has_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:inline@db/x")
    monkeypatch.setenv("COMPLAINTS_DATABASE_PASSWORD_FILE", str(secret_file(tmp_path, "other")))
    with pytest.raises(SettingsError, match="DATABASE_URL already has a password") as refused:
        Settings()
    assert "inline" not in str(refused.value) and "other" not in str(refused.value)


def test_the_case_link_key_is_made_once_and_shared(tmp_path: Path) -> None:
    """Two processes of the embedded stack (worker signing, web checking) read the same generated key."""
    now = datetime(2026, 12, 3, tzinfo=UTC)
    token = Settings(data_dir=tmp_path).case_links().sign("cmp-1", now)
    assert Settings(data_dir=tmp_path).case_links().read(token, now) == "cmp-1"
    assert stat.S_IMODE(os.stat(tmp_path / "case_link_key").st_mode) == 0o600
    other = Settings(data_dir=tmp_path, case_link_key="x" * 40).case_links()
    with pytest.raises(ValueError, match="refused"):
        other.read(token, now)
