"""Sessions that end and throttled sign-in (issue 10, rows 4 and 6), over HTTP against the real app: sessions are
rows in PostgreSQL shared by every web process, so a sign-out, a password reset or a disabled account is felt by
a replayed cookie on any process; failed sign-ins are counted per account and per address, also in PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from starlette.applications import Starlette
from structlog.testing import capture_logs
from web_support import PASSWORD, SignIn, act, csrf_of, request_id_of, sign_in, take_in

from activities.database import create_pool, dsn_for_database
from starter.client import ComplaintClient
from web.app import build_web_app
from web.sessions import SESSION_COOKIE
from web.settings import WebSettings
from web.users import add_user

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

Browser = Callable[..., httpx.AsyncClient]


@pytest.fixture(scope="module")
async def second_app(
    complaints: ComplaintClient, pool: asyncpg.Pool, postgres_uri: str, web_settings: WebSettings, app: Starlette
) -> AsyncIterator[Starlette]:
    """A second web process: its own app and its own pool on the same database, the same settings."""
    database = await pool.fetchval("SELECT current_database()")
    other_pool = await create_pool(dsn_for_database(postgres_uri, database))
    try:
        yield build_web_app(complaints, other_pool, web_settings)
    finally:
        await other_pool.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """`browser(app, address)`: a browser of its own (own cookie jar) talking to one app from one client address."""
    clients: list[httpx.AsyncClient] = []

    def open_on(app: Starlette, address: str = "127.0.0.1", cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        for name, value in (cookies or {}).items():  # as the server would have set it, so an answer replaces it
            client.cookies.set(name, value, domain="testserver.local", path="/")
        clients.append(client)
        return client

    yield open_on
    for client in clients:
        await client.aclose()


async def attempt(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "username": username, "password": password, "next": "/"}
    )


async def events_of(pool: asyncpg.Pool, complaint_id: str) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM complaint_events WHERE complaint_id = $1", complaint_id)
    return count


# ---- row 4: a cookie replayed after sign-out ----


async def test_a_cookie_replayed_after_sign_out_signs_nobody_in(
    signed_in: SignIn, browser: Browser, app: Starlette, pool: asyncpg.Pool
) -> None:
    agent = await signed_in("agent")
    complaint_id = await take_in(agent)
    page = await agent.get(f"/complaints/{complaint_id}")
    form = {"csrf_token": csrf_of(page.text), "request_id": request_id_of(page.text, "acknowledge")}
    token = agent.cookies[SESSION_COOKIE]
    stored = await pool.fetchrow(
        "SELECT username, ended_at FROM web_sessions WHERE token_hash = $1", hashlib.sha256(token.encode()).digest()
    )
    assert stored is not None and stored["username"] == "agent.lan" and stored["ended_at"] is None
    assert await pool.fetchval("SELECT count(*) FROM web_sessions WHERE data::text LIKE '%' || $1 || '%'", token) == 0

    signed_out = await agent.post("/logout", data={"csrf_token": form["csrf_token"]})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
    assert await pool.fetchval(
        "SELECT ended_at IS NOT NULL FROM web_sessions WHERE token_hash = $1", hashlib.sha256(token.encode()).digest()
    )

    replay = browser(app, cookies={SESSION_COOKIE: token})
    inbox = await replay.get("/")
    assert inbox.status_code == 303 and inbox.headers["location"].startswith("/login")
    before = await events_of(pool, complaint_id)
    refused = await replay.post(f"/complaints/{complaint_id}/actions/acknowledge", data=form)
    assert refused.status_code == 403
    assert await events_of(pool, complaint_id) == before, "the replayed action changed nothing"
    assert (await replay.post("/logout", data={"csrf_token": form["csrf_token"]})).status_code == 403


async def test_two_web_processes_share_sessions(
    browser: Browser, app: Starlette, second_app: Starlette, pool: asyncpg.Pool, staff: dict[str, str]
) -> None:
    first = browser(app)
    await sign_in(first, staff["agent"])
    second = browser(second_app, cookies={SESSION_COOKIE: first.cookies[SESSION_COOKIE]})
    assert "agent.lan" in (await second.get("/")).text, "signed in through one process, known to the other"

    complaint_id = await take_in(second)
    acted = await act(second, complaint_id, "acknowledge")
    assert acted.status_code == 303, acted.text
    assert "Đã thực hiện" in (await second.get(f"/complaints/{complaint_id}")).text, "its flash saved on the row"

    page = await second.get(f"/complaints/{complaint_id}")
    form = {"csrf_token": csrf_of(page.text), "request_id": request_id_of(page.text, "add_note"), "text": "x"}
    await first.post("/logout", data={"csrf_token": csrf_of((await first.get("/")).text)})
    assert (await second.get("/")).status_code == 303, "signed out through one process, out on the other too"
    before = await events_of(pool, complaint_id)
    assert (await second.post(f"/complaints/{complaint_id}/actions/add_note", data=form)).status_code == 403
    assert await events_of(pool, complaint_id) == before


async def test_sign_in_issues_a_new_token_and_a_signed_cookie_never_signs_in(
    browser: Browser, app: Starlette, web_settings: WebSettings, staff: dict[str, str]
) -> None:
    planted = "A" * 43  # a token an attacker chose and planted in the victim's browser
    victim = browser(app, cookies={SESSION_COOKIE: planted})
    await sign_in(victim, staff["agent"])
    issued = victim.cookies[SESSION_COOKIE]
    assert issued != planted and len(issued) == 43
    assert (await browser(app, cookies={SESSION_COOKIE: planted}).get("/")).status_code == 303

    for garbage in ("not-a-token.at.all", "A." * 2000, "", "e30.AAAA.BBBB"):
        stranger = browser(app, cookies={SESSION_COOKIE: garbage})
        assert (await stranger.get("/")).status_code == 303
        assert (await stranger.get("/login")).status_code == 200

    anonymous = browser(app)
    login = await anonymous.get("/login")
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    forged = URLSafeTimedSerializer(web_settings.secret(), salt="complaints.anonymous-session").dumps(
        {"user": staff["admin"], "csrf": "x"}
    )
    assert (await browser(app, cookies={SESSION_COOKIE: forged}).get("/users")).status_code == 303, (
        "even a correctly signed anonymous cookie names no user: only a live row signs anyone in"
    )


async def test_a_sign_in_lasts_session_max_age_and_expired_rows_go(
    browser: Browser, complaints: ComplaintClient, pool: asyncpg.Pool,
    web_settings: WebSettings, staff: dict[str, str],
) -> None:  # fmt: skip
    short = build_web_app(complaints, pool, web_settings.model_copy(update={"session_max_age": 1}))
    client = browser(short)
    await sign_in(client, staff["manager"])
    assert (await client.get("/")).status_code == 200
    token = client.cookies[SESSION_COOKIE]
    await asyncio.sleep(1.5)
    assert (await client.get("/")).status_code == 303
    await sign_in(browser(short), staff["manager"])
    assert not await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM web_sessions WHERE token_hash = $1)", hashlib.sha256(token.encode()).digest()
    ), "the expired row was removed at the next sign-in"


# ---- administrators: password reset, disable, role; the last admin stays ----


async def test_password_reset_and_disable_end_every_session_of_the_user(
    signed_in: SignIn, browser: Browser, app: Starlette, second_app: Starlette, pool: asyncpg.Pool
) -> None:
    await add_user(pool, "ngoc.anh", "first password", "agent")
    admin = await signed_in("admin")
    on_first, on_second = browser(app), browser(second_app)
    for client in (on_first, on_second):
        await sign_in(client, "ngoc.anh", "first password")
        assert (await client.get("/")).status_code == 200

    users = await admin.get("/users")
    assert 'action="/users/ngoc.anh/password"' in users.text
    token = csrf_of(users.text)
    reset = await admin.post("/users/ngoc.anh/password", data={"csrf_token": token, "password": "second password"})
    assert reset.status_code == 303
    for client in (on_first, on_second):
        assert (await client.get("/")).status_code == 303, "a new password signs the user out everywhere"
    assert (await attempt(browser(app, "10.9.0.1"), "ngoc.anh", "first password")).status_code == 401
    await sign_in(on_first, "ngoc.anh", "second password")

    disabled = await admin.post("/users/ngoc.anh/disable", data={"csrf_token": token})
    assert disabled.status_code == 303
    assert (await on_first.get("/")).status_code == 303, "a disabled account is signed out at once"
    assert (await attempt(browser(app, "10.9.0.2"), "ngoc.anh", "second password")).status_code == 401
    listed = await admin.get("/users")
    assert 'action="/users/ngoc.anh/enable"' in listed.text
    assert (await admin.post("/users/ngoc.anh/enable", data={"csrf_token": token})).status_code == 303
    await sign_in(on_first, "ngoc.anh", "second password")

    promoted = await admin.post("/users/ngoc.anh/role", data={"csrf_token": token, "role": "manager"})
    assert promoted.status_code == 303
    assert await pool.fetchval("SELECT role FROM users WHERE username = 'ngoc.anh'") == "manager"
    assert "Quản lý" in (await on_first.get("/")).text, "the new role on the next request, the session kept"

    forged = await admin.post("/users/ngoc.anh/disable", data={"csrf_token": "not the token"})
    assert forged.status_code == 403
    agent = await signed_in("agent")
    assert (await agent.post("/users/ngoc.anh/disable", data={"csrf_token": csrf_of((await agent.get("/")).text)})
            ).status_code == 403  # fmt: skip
    assert not await pool.fetchval("SELECT disabled FROM users WHERE username = 'ngoc.anh'")


async def test_the_last_admin_cannot_be_disabled_or_demoted(
    signed_in: SignIn, pool: asyncpg.Pool, staff: dict[str, str]
) -> None:
    admins = await pool.fetch("SELECT username FROM users WHERE role = 'admin' AND NOT disabled")
    assert [row["username"] for row in admins] == [staff["admin"]]
    admin = await signed_in("admin")
    token = csrf_of((await admin.get("/users")).text)
    for change, data in (("disable", {}), ("role", {"role": "manager"})):
        refused = await admin.post(f"/users/{staff['admin']}/{change}", data={"csrf_token": token, **data})
        assert refused.status_code == 422
        assert "last administrator" in refused.text
    row = await pool.fetchrow("SELECT role, disabled FROM users WHERE username = $1", staff["admin"])
    assert (row["role"], row["disabled"]) == ("admin", False)
    assert (await admin.get("/users")).status_code == 200, "still signed in, still an admin"


# ---- row 6: 80 wrong passwords ----


async def test_eighty_wrong_passwords_are_throttled_everywhere_and_logged_without_the_password(
    browser: Browser, app: Starlette, second_app: Starlette, pool: asyncpg.Pool, staff: dict[str, str]
) -> None:
    await add_user(pool, "admin", PASSWORD, "admin")
    guesser = browser(app, "203.0.113.7", cookies={"lang": "en"})
    wrong = "guess-number-{}"
    statuses: list[int] = []
    with capture_logs() as logs:
        for n in range(80):
            answer = await attempt(guesser, "admin", wrong.format(n))
            statuses.append(answer.status_code)
        throttled = answer
        right = await attempt(guesser, "admin", PASSWORD)
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429] * 75, statuses
    assert "Too many failed sign-ins. Try again in 15 minutes." in throttled.text
    assert 840 <= int(throttled.headers["retry-after"]) <= 901
    assert right.status_code == 429, "the right password is refused too while throttled: it is not even checked"
    assert (await guesser.get("/")).status_code == 303

    vietnamese = browser(app, "203.0.113.8")
    assert "Vui lòng thử lại sau 15 phút" in (await attempt(vietnamese, "admin", PASSWORD)).text, (
        "the account is throttled from any address"
    )
    elsewhere = browser(second_app, "198.51.100.20")
    assert (await attempt(elsewhere, "admin", PASSWORD)).status_code == 429, "and on the other web process"
    colleague = browser(second_app, "198.51.100.21")
    assert (await attempt(colleague, staff["agent"], PASSWORD)).status_code == 303, "other accounts sign in"

    audit = [entry for entry in logs if entry["event"] in ("sign-in refused", "sign-in throttled")]
    assert len(audit) == 81
    assert {entry["account"] for entry in audit} == {"admin"}
    assert {entry["client_address"] for entry in audit} == {"203.0.113.7"}
    for entry in logs:
        flat = repr(entry)
        assert "guess-number" not in flat and PASSWORD not in flat, entry
    counters = await pool.fetch("SELECT key FROM rate_limit_counters")
    assert all("guess-number" not in row["key"] for row in counters)


async def test_one_address_trying_many_accounts_is_throttled(
    browser: Browser, app: Starlette, second_app: Starlette, pool: asyncpg.Pool, staff: dict[str, str]
) -> None:
    """20 failures from one address over 20 accounts: each account is below its own limit, the address is not."""
    sprayer = browser(app, "192.0.2.50")
    with capture_logs() as logs:
        for n in range(20):
            assert (await attempt(sprayer, f"nobody.{n}", "password one")).status_code == 401
    assert {entry["account"] for entry in logs if entry["event"] == "sign-in refused"} == {"(unknown account)"}, (
        "names that are no account are not logged: they may be a password typed in the wrong field"
    )
    assert (await attempt(browser(second_app, "192.0.2.50"), staff["manager"], PASSWORD)).status_code == 429
    assert (await attempt(browser(app, "192.0.2.51"), staff["manager"], PASSWORD)).status_code == 303


async def test_sign_in_success_starts_the_account_count_over(
    browser: Browser, app: Starlette, pool: asyncpg.Pool
) -> None:
    await add_user(pool, "hay.quen", "the real password", "agent")
    client = browser(app, "192.0.2.80")
    for _ in range(4):
        assert (await attempt(client, "hay.quen", "mistyped password")).status_code == 401
    assert (await attempt(client, "hay.quen", "the real password")).status_code == 303
    await client.post("/logout", data={"csrf_token": csrf_of((await client.get("/")).text)})
    for _ in range(4):
        assert (await attempt(client, "hay.quen", "mistyped again")).status_code == 401
    assert (await attempt(client, "hay.quen", "the real password")).status_code == 303


async def test_cookies_are_secure_behind_https(
    complaints: ComplaintClient, pool: asyncpg.Pool, web_settings: WebSettings,
    staff: dict[str, str],
) -> None:  # fmt: skip
    secure = build_web_app(complaints, pool, web_settings.model_copy(update={"secure_cookies": True}))
    transport = httpx.ASGITransport(app=secure, client=("192.0.2.90", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        login = await client.get("/login")
        assert "; secure" in login.headers["set-cookie"].lower()
        signed = await client.post(
            "/login", data={"csrf_token": csrf_of(login.text), "username": staff["agent"], "password": PASSWORD}
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
