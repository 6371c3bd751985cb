"""The web form's parts on their own: the catalogue, the session secret, users and passwords, time left."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from web.clock import time_left
from web.i18n import Translator, catalogue_path
from web.settings import SECRET_FILE, WebSettings
from web.users import DEV_PASSWORD, UserError, add_user, authenticate, ensure_dev_accounts, get_user

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_of_the_interface_is_translated_to_vietnamese() -> None:
    """What the templates and the code say, extracted as `pybabel extract` would, is all in vi/messages.po."""
    method_map = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]
    options = {"web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    extracted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options, keywords=keywords)
    }
    with catalogue_path("vi").open("rb") as source:
        catalogue = read_po(source, locale="vi")
    translated = {
        (message.id if isinstance(message.id, str) else message.id[0])
        for message in catalogue
        if message.id and message.string and not message.fuzzy and all(message.string)
    }
    assert len(extracted) > 150
    assert sorted(extracted - translated) == [], "run pybabel extract/update (see web/babel.cfg) and translate"


def test_translator_formats_and_falls_back_to_english() -> None:
    vi, en = Translator("vi"), Translator("en")
    assert vi.gettext("Too long: at most %(max)s characters.", max=10) == "Quá dài: tối đa 10 ký tự."
    assert en.gettext("Too long: at most %(max)s characters.", max=10) == "Too long: at most 10 characters."
    assert vi.ngettext("%(num)d complaint", "%(num)d complaints", 2) == "2 khiếu nại"
    assert en.ngettext("%(num)d complaint", "%(num)d complaints", 1) == "1 complaint"


def test_time_left_and_its_tone() -> None:
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    vi = Translator("vi")
    assert time_left(now + timedelta(days=3, hours=4, minutes=5), now, vi).text == "còn 3 ngày 4 giờ"
    assert time_left(now + timedelta(days=3), now, vi).tone == "ok"
    soon = time_left(now + timedelta(hours=5, minutes=20), now, vi)
    assert (soon.text, soon.tone) == ("còn 5 giờ 20 phút", "soon")
    late = time_left(now - timedelta(minutes=12), now, Translator("en"))
    assert (late.text, late.tone) == ("12 min overdue", "overdue")
    assert time_left(now - timedelta(days=1), now, vi, breached=True).tone == "breached"


def test_session_secret_from_the_environment_or_a_private_file(tmp_path: Path) -> None:
    assert WebSettings(data_dir=tmp_path, session_secret="from-env").secret() == "from-env"
    generated = WebSettings(data_dir=tmp_path).secret()
    assert len(generated) >= 48
    assert WebSettings(data_dir=tmp_path).secret() == generated, "kept across restarts"
    mode = stat.S_IMODE(os.stat(tmp_path / SECRET_FILE).st_mode)
    assert mode == 0o600


def test_workflow_link_only_when_the_ui_is_known(tmp_path: Path) -> None:
    assert WebSettings(data_dir=tmp_path).workflow_url("abc") is None
    linked = WebSettings(data_dir=tmp_path, temporal_ui="http://localhost:8233/").workflow_url("abc")
    assert linked == "http://localhost:8233/namespaces/default/workflows/complaint-abc"


@pytest.mark.postgres
async def test_users_and_passwords(pool: asyncpg.Pool) -> None:
    created = await add_user(pool, "  Thanh.Tam ", "một mật khẩu dài", "MANAGER")
    assert (created.username, created.role.value, created.workflow_role.value) == ("thanh.tam", "manager", "manager")
    stored = await pool.fetchval("SELECT password_hash FROM users WHERE username = 'thanh.tam'")
    assert stored.startswith("$argon2id$") and "một" not in stored
    assert await authenticate(pool, "thanh.tam", "một mật khẩu dài") == created
    assert await authenticate(pool, "thanh.tam", "wrong password") is None
    assert await authenticate(pool, "nobody", "một mật khẩu dài") is None
    with pytest.raises(UserError, match="already exists"):
        await add_user(pool, "thanh.tam", "another long one", "agent")
    with pytest.raises(UserError, match="password"):
        await add_user(pool, "short.pw", "1234567", "agent")
    with pytest.raises(UserError, match="role"):
        await add_user(pool, "root.user", "long enough pw", "root")
    with pytest.raises(UserError, match="username"):
        await add_user(pool, "a b", "long enough pw", "agent")
    admin = await add_user(pool, "it.admin", "long enough pw", "admin")
    assert admin.workflow_role.value == "agent", "an admin works complaints as an agent, never approves"
    await pool.execute("UPDATE users SET disabled = true WHERE username = 'it.admin'")
    assert await get_user(pool, "it.admin") is None
    assert await authenticate(pool, "it.admin", "long enough pw") is None


@pytest.mark.postgres
async def test_dev_accounts_only_on_an_empty_table(pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM users")
    created = await ensure_dev_accounts(pool)
    assert sorted(user.username for user in created) == ["admin", "agent", "manager"]
    assert await authenticate(pool, "manager", DEV_PASSWORD) is not None
    assert await ensure_dev_accounts(pool) == []
