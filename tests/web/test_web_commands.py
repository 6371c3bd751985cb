"""What the `complaints` command runs for the web form: `run_web` (behind `complaints web` and `complaints dev`)
and `create_user` (behind `complaints user add`), against a real database and the time-skipping server."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from complaints.temporal_server import free_port
from web.commands import create_user, run_web
from web.settings import WebSettings
from web.users import DEV_PASSWORD, UserError

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


@pytest.fixture
def database_url(empty_database: str) -> str:
    """A new, empty database: `run_web` and `create_user` migrate it themselves."""
    return empty_database


async def test_run_web_serves_with_dev_accounts_until_stopped(
    database_url: str, time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    stop, ready = asyncio.Event(), asyncio.Event()
    port = free_port()
    serving = asyncio.create_task(
        run_web(
            database_url,
            time_env.client,
            stop,
            port=port,
            web_settings=WebSettings(data_dir=tmp_path, temporal_ui="http://localhost:8233"),
            dev_accounts=True,
            ready=ready,
        )
    )
    await asyncio.wait_for(ready.wait(), timeout=30)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/healthz")).text == "ok"
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        signed = await client.post(
            "/login", data={"csrf_token": token.group(1), "username": "manager", "password": DEV_PASSWORD}
        )
        assert signed.status_code == 303
        assert "Quản lý" in (await client.get("/")).text
    stop.set()
    await asyncio.wait_for(serving, timeout=15)
    assert (tmp_path / "session_secret").exists()

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port is let go when stopped"


async def test_run_web_on_a_taken_port_fails_at_once(
    database_url: str, time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            await asyncio.wait_for(
                run_web(
                    database_url,
                    time_env.client,
                    asyncio.Event(),
                    port=port,
                    web_settings=WebSettings(data_dir=tmp_path),
                ),
                timeout=30,
            )


async def test_create_user_for_the_command_line(database_url: str) -> None:
    user = await create_user(database_url, "Hai.Yen", "a long password", "manager")
    assert (user.username, user.role.value) == ("hai.yen", "manager")
    with pytest.raises(UserError, match="already exists"):
        await create_user(database_url, "hai.yen", "another password", "agent")
