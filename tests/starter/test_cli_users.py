"""`complaints user add`: web form users from the command line, password never on the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg
from cli_support import complaints
from samples import COMPLAINTS, clean_env


async def test_user_add_stores_a_hashed_password_and_refuses_a_taken_name(
    server_env: dict[str, str], database_url: str
) -> None:
    added = complaints("user", "add", "lan", "--role", "manager", "--password-stdin", env=server_env,
                       stdin="a long enough secret\n")  # fmt: skip
    assert added.status == 0, added.stderr
    assert added.json() == {"username": "lan", "role": "manager"}
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT role, password_hash FROM users WHERE username = 'lan'")
    finally:
        await conn.close()
    assert row is not None and row["role"] == "manager"
    assert row["password_hash"].startswith("$argon2") and "a long enough secret" not in row["password_hash"]

    again = complaints("user", "add", "lan", "--role", "agent", "--password-stdin", env=server_env, stdin="x" * 12)
    assert again.status == 1 and "lan" in again.stderr
    short = complaints("user", "add", "minh", "--role", "agent", "--password-stdin", env=server_env, stdin="short\n")
    assert short.status == 1 and "password" in short.stderr
    usage = complaints("user", "add", "minh", "--role", "boss", env=server_env)
    assert usage.status == 2


async def live_sessions(database_url: str, username: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM web_sessions WHERE username = $1 AND ended_at IS NULL", username
        )
    finally:
        await conn.close()
    return count


async def signed_in_somewhere(database_url: str, username: str) -> None:
    """A session row as the web form writes one at sign-in (the command must end it)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO web_sessions (token_hash, username, expires_at) "
            "VALUES (sha256(gen_random_uuid()::text::bytea), $1, now() + interval '1 hour')",
            username,
        )
    finally:
        await conn.close()


async def test_user_administration_keeps_the_last_admin_and_ends_sessions(
    server_env: dict[str, str], database_url: str
) -> None:
    for name, role in (("quan.tri", "admin"), ("thu.trang", "agent")):
        added = complaints("user", "add", name, "--role", role, "--password-stdin", env=server_env,
                           stdin="a long enough secret\n")  # fmt: skip
        assert added.status == 0, added.stderr

    listed = complaints("user", "list", env=server_env)
    assert listed.status == 0, listed.stderr
    assert {"username": "thu.trang", "role": "agent", "disabled": False} in listed.json()

    await signed_in_somewhere(database_url, "thu.trang")
    disabled = complaints("user", "disable", "thu.trang", env=server_env)
    assert disabled.status == 0, disabled.stderr
    assert disabled.json() == {"username": "thu.trang", "role": "agent", "disabled": True}
    assert await live_sessions(database_url, "thu.trang") == 0, "disabling signs the user out"
    assert {"username": "thu.trang", "role": "agent", "disabled": True} in complaints(
        "user", "list", env=server_env
    ).json()
    enabled = complaints("user", "enable", "thu.trang", env=server_env)
    assert enabled.status == 0 and enabled.json()["disabled"] is False

    promoted = complaints("user", "role", "thu.trang", "manager", env=server_env)
    assert promoted.status == 0 and promoted.json()["role"] == "manager"

    await signed_in_somewhere(database_url, "thu.trang")
    reset = complaints("user", "password", "thu.trang", "--password-stdin", env=server_env, stdin="a new long secret\n")
    assert reset.status == 0, reset.stderr
    assert await live_sessions(database_url, "thu.trang") == 0, "a new password signs the user out"
    short = complaints("user", "password", "thu.trang", "--password-stdin", env=server_env, stdin="short\n")
    assert short.status == 1 and "password" in short.stderr

    for argv in (("user", "disable", "quan.tri"), ("user", "role", "quan.tri", "agent")):
        last = complaints(*argv, env=server_env)
        assert last.status == 1 and "last administrator" in last.stderr, last.stderr
        assert "Traceback" not in last.stderr and len(last.stderr.strip().splitlines()) == 1
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT role, disabled FROM users WHERE username = 'quan.tri'")
    finally:
        await conn.close()
    assert row is not None and (row["role"], row["disabled"]) == ("admin", False)

    unknown = complaints("user", "disable", "ai.do", env=server_env)
    assert unknown.status == 1 and "no user named ai.do" in unknown.stderr
    assert complaints("user", "role", "thu.trang", "boss", env=server_env).status == 2
    assert complaints("user", "frobnicate", env=server_env).status == 2


def test_a_password_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    """Row 11 of the hardening issue for the user commands: invalid UTF-8 on stdin is refused before any server."""
    for command in (["user", "add", "lan", "--role", "agent"], ["user", "password", "lan"]):
        done = subprocess.run(
            [str(COMPLAINTS), *command, "--password-stdin"],
            input=b"\xff\xfe secret\n",
            env=clean_env(DATABASE_URL="postgresql://127.0.0.1:9/none", COMPLAINTS_DATA_DIR=str(tmp_path)),
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert done.stderr.decode().splitlines() == [
            "complaints user: password (stdin): not UTF-8 text (invalid byte at offset 0)"
        ]
