"""`complaints user add`: web form users from the command line, password never on the command line."""

from __future__ import annotations

import asyncpg
from cli_support import complaints


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
