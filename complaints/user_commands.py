"""`complaints user ...`: the web form's users, for an admin at a terminal (or the first admin, before anyone
can sign in). The changes are `web.users`' own, so the command keeps the rules the users page keeps."""

from __future__ import annotations

import argparse
from typing import Any

from complaints.command import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    Failure,
    database_url_of,
    emit,
    postgres_unreachable,
    read_stdin,
)

MAX_PASSWORD_LINE_BYTES = 4096
"""Far above the longest password a user may have (256 characters); `/dev/zero` on stdin still ends."""


def _password(args: argparse.Namespace, prompt: str) -> str:
    """The password from the first line of stdin (`--password-stdin`) or a prompt; `Failure` if it is not text."""
    import getpass

    if not args.password_stdin:
        return getpass.getpass(prompt)
    line = read_stdin(MAX_PASSWORD_LINE_BYTES + 1).split(b"\n", 1)[0]
    if len(line) > MAX_PASSWORD_LINE_BYTES:
        raise Failure(f"password: longer than {MAX_PASSWORD_LINE_BYTES} bytes")
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise Failure(f"password (stdin): not UTF-8 text (invalid byte at offset {exc.start})") from None


async def cmd_user_add(args: argparse.Namespace) -> int:
    from web.commands import create_user
    from web.users import UserError

    password = _password(args, "password: ")
    try:
        user = await create_user(database_url_of(args), args.username, password, args.role)
    except UserError as exc:
        raise Failure(str(exc)) from None
    emit({"username": user.username, "role": user.role})
    return EXIT_OK


async def cmd_user_change(args: argparse.Namespace) -> int:
    """`complaints user list|disable|enable|role|password`: the users page's changes, for an admin at a terminal
    (or the first admin, before anyone can sign in). Disabling and a new password end the user's sessions."""

    from activities.database import database_unavailable
    from web.commands import administer_users
    from web.users import User, UserError, list_users, set_disabled, set_password, set_role

    def shown(user: User) -> dict[str, Any]:
        return {"username": user.username, "role": user.role.value, "disabled": user.disabled}

    command = args.user_command
    if command == "password":
        password = _password(args, "new password: ")
    try:
        if command == "list":
            emit([shown(user) for user in await administer_users(database_url_of(args), list_users)])
            return EXIT_OK
        if command in ("disable", "enable"):
            changed = await administer_users(
                database_url_of(args), lambda pool: set_disabled(pool, args.username, command == "disable")
            )
        elif command == "role":
            changed = await administer_users(
                database_url_of(args), lambda pool: set_role(pool, args.username, args.role)
            )
        else:
            changed = await administer_users(
                database_url_of(args), lambda pool: set_password(pool, args.username, password)
            )
    except UserError as exc:
        raise Failure(str(exc)) from None
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        raise Failure(postgres_unreachable(exc), EXIT_UNAVAILABLE) from None
    emit(shown(changed))
    return EXIT_OK
