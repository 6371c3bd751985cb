"""People who sign in, their roles and their passwords (argon2id, via argon2-cffi).

A web role is not a workflow role: an admin also manages users, and works complaints as an agent does. Only a
manager decides on plans; the workflow checks that again, so the web form is the first line, not the only one.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from enum import StrEnum

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.actions import Role
from web.sessions import end_user_sessions

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256

DEV_PASSWORD = "complaints-dev"
"""Password of the accounts `complaints dev` creates on an empty users table; for a local machine only."""
DEV_ACCOUNTS = (("agent", "agent"), ("manager", "manager"), ("admin", "admin"))

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a real password; evens out the time of a failed sign-in")


class UserRole(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class UserError(ValueError):
    """A user that cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class User:
    username: str
    role: UserRole
    disabled: bool = False

    @property
    def workflow_role(self) -> Role:
        """The role the workflow knows: a manager is a manager, everyone else works complaints as an agent."""
        return Role.MANAGER if self.role is UserRole.MANAGER else Role.AGENT

    @property
    def is_admin(self) -> bool:
        return self.role is UserRole.ADMIN


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UserError(f"password: {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")
    return password


def check_role(role: str) -> UserRole:
    try:
        return UserRole(role.strip().lower())
    except ValueError:
        raise UserError("role: one of agent, manager, admin") from None


def check_new_user(username: str, password: str, role: str) -> tuple[str, str, UserRole]:
    name = username.strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise UserError("username: 2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    return name, check_password(password), check_role(role)


async def add_user(pool: asyncpg.Pool, username: str, password: str, role: str) -> User:
    """Create a user; `UserError` when a field is bad or the name is taken."""
    name, password, user_role = check_new_user(username, password, role)
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    async with pool.acquire() as conn:
        created = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3) "
            "ON CONFLICT (username) DO NOTHING RETURNING username",
            name,
            password_hash,
            user_role.value,
        )
    if created is None:
        raise UserError(f"username: {name} already exists")
    return User(name, user_role)


async def authenticate(pool: asyncpg.Pool, username: str, password: str) -> User | None:
    """The user if the password is right, else None; an unknown name costs the same time as a wrong password."""
    name = username.strip().lower()
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT username, password_hash, role FROM users WHERE username = $1 AND NOT disabled", name
        )
    stored = row["password_hash"] if row else _DUMMY_HASH
    try:
        await asyncio.to_thread(_hasher.verify, stored, password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(stored):
        rehashed = await asyncio.to_thread(_hasher.hash, password)
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1", name, rehashed
            )
    return User(row["username"], UserRole(row["role"]))


async def get_user(pool: asyncpg.Pool, username: str) -> User | None:
    """The signed-in user as the database has them now: a disabled user or a changed role takes effect at once."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT username, role FROM users WHERE username = $1 AND NOT disabled", username)
    return User(row["username"], UserRole(row["role"])) if row else None


async def list_users(pool: asyncpg.Pool) -> list[User]:
    """Every user, the disabled ones too: an administrator enables them again from the same list."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT username, role, disabled FROM users ORDER BY username")
    return [User(row["username"], UserRole(row["role"]), row["disabled"]) for row in rows]


async def account_exists(pool: asyncpg.Pool, username: str) -> bool:
    """Whether a name typed at sign-in is an account: only then does the audit log name it (a password typed
    into the username field by mistake must not end up in the log)."""
    async with pool.acquire() as conn:
        found: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)", username.strip().lower()
        )
    return found


async def _change_user(
    pool: asyncpg.Pool, username: str, *, role: UserRole | None = None, disabled: bool | None = None
) -> User:
    """Change a role or the disabled flag, keeping at least one enabled admin.

    The enabled admins' rows are locked first (in name order, so two such changes never deadlock), so two admins
    demoting each other at the same moment cannot both succeed and leave nobody able to manage users. Disabling
    ends the user's sessions in the same transaction."""
    name = username.strip().lower()
    async with pool.acquire() as conn, conn.transaction():
        admins = {
            row["username"]
            for row in await conn.fetch(
                "SELECT username FROM users WHERE role = 'admin' AND NOT disabled ORDER BY username FOR UPDATE"
            )
        }
        row = await conn.fetchrow("SELECT username, role, disabled FROM users WHERE username = $1 FOR UPDATE", name)
        if row is None:
            raise UserError(f"username: no user named {name}")
        new_role = role or UserRole(row["role"])
        new_disabled = row["disabled"] if disabled is None else disabled
        if name in admins and admins == {name} and (new_role is not UserRole.ADMIN or new_disabled):
            raise UserError(f"{name} is the last administrator: make another one first")
        await conn.execute(
            "UPDATE users SET role = $2, disabled = $3, updated_at = now() WHERE username = $1",
            name,
            new_role.value,
            new_disabled,
        )
        if new_disabled and not row["disabled"]:
            await end_user_sessions(conn, name)
    return User(name, new_role, new_disabled)


async def set_role(pool: asyncpg.Pool, username: str, role: str) -> User:
    """Takes effect on the user's next request (each request reads the role again); sessions stay."""
    return await _change_user(pool, username, role=check_role(role))


async def set_disabled(pool: asyncpg.Pool, username: str, disabled: bool) -> User:
    """Disabling signs the user out everywhere at once; enabling lets them sign in again."""
    return await _change_user(pool, username, disabled=disabled)


async def set_password(pool: asyncpg.Pool, username: str, password: str) -> User:
    """A new password ends every session of the user: whoever knew the old one is signed out too."""
    name = username.strip().lower()
    password_hash = await asyncio.to_thread(_hasher.hash, check_password(password))
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1 "
            "RETURNING username, role, disabled",
            name,
            password_hash,
        )
        if row is None:
            raise UserError(f"username: no user named {name}")
        await end_user_sessions(conn, name)
    return User(row["username"], UserRole(row["role"]), row["disabled"])


async def ensure_dev_accounts(pool: asyncpg.Pool) -> list[User]:
    """On an empty users table only: `agent`, `manager` and `admin`, password `complaints-dev`.

    For the embedded stack on one's own machine; a table that has any user is left alone.
    """
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
            return []
    created: list[User] = []
    for username, role in DEV_ACCOUNTS:
        try:
            created.append(await add_user(pool, username, DEV_PASSWORD, role))
        except UserError:  # another process created it meanwhile
            continue
    return created
