"""User administration against the real PostgreSQL: the last admin stays, even when two admins demote each other
at the same moment, and the changes that must sign a user out end every live session row of theirs."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from web.users import UserError, add_user, set_disabled, set_password, set_role

pytestmark = pytest.mark.postgres


async def live_sessions(pool: asyncpg.Pool, username: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM web_sessions WHERE username = $1 AND ended_at IS NULL", username
    )
    return count


async def open_session(pool: asyncpg.Pool, username: str) -> None:
    await pool.execute(
        "INSERT INTO web_sessions (token_hash, username, expires_at) "
        "VALUES (sha256(gen_random_uuid()::text::bytea), $1, now() + interval '1 hour')",
        username,
    )


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(pool: asyncpg.Pool) -> None:
    for round_ in range(5):
        first, second = f"first.{round_}", f"second.{round_}"
        await pool.execute("UPDATE users SET role = 'agent' WHERE role = 'admin'")
        await add_user(pool, first, "long enough pw", "admin")
        await add_user(pool, second, "long enough pw", "admin")
        outcomes = await asyncio.gather(
            set_role(pool, first, "agent"), set_disabled(pool, second, True), return_exceptions=True
        )
        refused = [outcome for outcome in outcomes if isinstance(outcome, UserError)]
        assert len(refused) == 1 and "last administrator" in str(refused[0]), outcomes
        assert await pool.fetchval("SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled") == 1


async def test_disable_and_password_end_sessions_a_role_change_does_not(pool: asyncpg.Pool) -> None:
    await add_user(pool, "chi.mai", "long enough pw", "agent")
    await add_user(pool, "someone.else", "long enough pw", "agent")
    await open_session(pool, "someone.else")
    for _ in range(2):
        await open_session(pool, "chi.mai")

    await set_role(pool, "chi.mai", "manager")
    assert await live_sessions(pool, "chi.mai") == 2, "the role is read again on every request; no need to end"
    await set_password(pool, "chi.mai", "a new long password")
    assert await live_sessions(pool, "chi.mai") == 0
    await open_session(pool, "chi.mai")
    disabled = await set_disabled(pool, "CHI.MAI", True)
    assert disabled.disabled and await live_sessions(pool, "chi.mai") == 0
    assert await live_sessions(pool, "someone.else") == 1, "only that user's sessions"
    with pytest.raises(UserError, match="no user named nobody"):
        await set_disabled(pool, "nobody", True)
    with pytest.raises(UserError, match="password"):
        await set_password(pool, "chi.mai", "short")
    with pytest.raises(UserError, match="role"):
        await set_role(pool, "chi.mai", "root")
