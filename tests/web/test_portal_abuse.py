"""The portal on the internet (issue 14): no enumeration by timing or wording, the throttle shared by two web
processes on one database, links that expired or were altered, another case out of reach, the bot trap, the size
limit. Over HTTP against the real app, workflow and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from portal_support import PNG, complain, complaint_form, hidden_fields, new_contact, portal_test_settings, submit
from starlette.applications import Starlette

from activities.database import create_pool, dsn_for_database
from activities.queries import ComplaintQueries
from complaints.temporal_server import free_port
from starter.client import ComplaintClient
from web.app import build_web_app
from web.portal import PORTAL_COOKIE
from web.server import serve
from web.settings import WebSettings

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

Browser = Callable[..., httpx.AsyncClient]
LOOKUPS = 25


@pytest.fixture(scope="module")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> WebSettings:
    return portal_test_settings(Path(tmp_path_factory.mktemp("portal-abuse")))


@pytest.fixture(scope="module")
def strict_settings(web_settings: WebSettings) -> WebSettings:
    """Low limits, the bot trap's clock on, a small body limit: what the abuse is measured against."""
    return web_settings.model_copy(
        update={
            "portal_form_min_seconds": 1.0,
            "portal_lookups_per_address": 4,
            "portal_lookups_per_case": 3,
            "portal_complaints_per_address": 2,
            "portal_max_upload_bytes": 64 * 1024,
        }
    )


@pytest.fixture(scope="module")
async def two_processes(
    complaints: ComplaintClient, pool: asyncpg.Pool, postgres_uri: str, strict_settings: WebSettings
) -> AsyncIterator[tuple[Starlette, Starlette]]:
    """Two web processes with the strict settings: each its own app and its own pool on the same database."""
    database = await pool.fetchval("SELECT current_database()")
    other_pool = await create_pool(dsn_for_database(postgres_uri, database))
    try:
        yield build_web_app(complaints, pool, strict_settings), build_web_app(complaints, other_pool, strict_settings)
    finally:
        await other_pool.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """`browser(app, address)`: a browser of its own (own cookie jar) talking to one app from one client address."""
    clients: list[httpx.AsyncClient] = []

    def open_on(app: Starlette, address: str = "127.0.0.1") -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://testserver"
        )
        clients.append(client)
        return client

    yield open_on
    for client in clients:
        await client.aclose()


def address() -> str:
    """A client address of this test's own (TEST-NET-3), so counters of other tests do not mix in."""
    return f"203.0.113.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"


def without_values(page: str) -> str:
    """The page without what the reader typed or the form's fresh stamp: what is left is the answer."""
    return re.sub(r'value="[^"]*"', 'value=""', page)


async def case_number_of(pool: asyncpg.Pool, complaint_id: str) -> str:
    number = await pool.fetchval("SELECT case_number FROM complaints WHERE complaint_id = $1", complaint_id)
    assert isinstance(number, str)
    return number


async def test_a_wrong_number_and_a_wrong_phone_take_as_long_and_read_the_same(
    app: Starlette, browser: Browser, pool: asyncpg.Pool
) -> None:
    customer = browser(app, address())
    phone, _ = new_contact()
    number = await case_number_of(pool, await complain(customer, **{"customer.phone": phone}))
    prober = browser(app, address())
    hidden = hidden_fields((await prober.get("/portal/follow")).text, "/portal/follow")

    async def lookup(case_number: str, contact: str) -> tuple[float, httpx.Response]:
        started = time.perf_counter()
        response = await prober.post("/portal/follow", data={**hidden, "case_number": case_number, "contact": contact})
        return time.perf_counter() - started, response

    await lookup(number, "0900000000")  # warm both paths once
    await lookup("KN-2026-999998", phone)
    wrong_number: list[float] = []
    wrong_phone: list[float] = []
    bodies: set[str] = set()
    for n in range(LOOKUPS):
        for kind in (0, 1) if n % 2 else (1, 0):  # interleaved, in alternating order: drift hits both alike
            if kind == 0:
                spent, response = await lookup(f"KN-2026-{900000 + n:06d}", phone)
                wrong_number.append(spent)
            else:
                spent, response = await lookup(number, f"09{n:08d}")
                wrong_phone.append(spent)
            assert response.status_code == 422
            bodies.add(without_values(response.text))
    assert len(bodies) == 1, "a wrong number and a wrong phone must read the same"
    ratio = statistics.median(wrong_number) / statistics.median(wrong_phone)
    assert 0.7 <= ratio <= 1.4, (ratio, statistics.median(wrong_number), statistics.median(wrong_phone))


async def test_lookups_are_throttled_across_two_web_processes(
    two_processes: tuple[Starlette, Starlette], app: Starlette, browser: Browser, pool: asyncpg.Pool
) -> None:
    first, second = two_processes
    number = await case_number_of(pool, await complain(browser(app, address())))

    async def look_up(process: Starlette, client_address: str, case_number: str) -> httpx.Response:
        client = browser(process, client_address)
        page = await client.get("/portal/follow")
        await asyncio.sleep(1.05)  # the bot trap's clock of these settings
        hidden = hidden_fields(page.text, "/portal/follow")
        return await client.post("/portal/follow", data={**hidden, "case_number": case_number, "contact": "0900000000"})

    # One case number, from four addresses, on either process: its three lookups are spent.
    answers = [await look_up((first, second)[n % 2], address(), number) for n in range(4)]
    assert [answer.status_code for answer in answers] == [422, 422, 422, 429]
    assert "Quá nhiều lần thử" in answers[-1].text and int(answers[-1].headers["retry-after"]) > 0
    # One address, four case numbers, on either process: its four lookups are spent, the fifth waits.
    prober = address()
    answers = [await look_up((first, second)[n % 2], prober, f"KN-2026-{800000 + n:06d}") for n in range(5)]
    assert [answer.status_code for answer in answers] == [422, 422, 422, 422, 429]
    assert "portal.css" in answers[-1].text and "/complaints/new" not in answers[-1].text


async def test_complaints_are_throttled_per_address_across_two_web_processes(
    two_processes: tuple[Starlette, Starlette], browser: Browser
) -> None:
    sender = address()
    statuses = []
    for n in range(3):
        client = browser(two_processes[n % 2], sender)
        page = await client.get("/portal/complain")
        await asyncio.sleep(1.05)
        response = await submit(
            client,
            "",
            "/portal/complain",
            complaint_form(),
            files=[],
            hidden=hidden_fields(page.text, "/portal/complain"),
        )
        statuses.append(response.status_code)
    assert statuses == [303, 303, 429]


async def test_the_bot_trap_refuses_a_fast_a_filled_or_a_forged_form(
    two_processes: tuple[Starlette, Starlette], browser: Browser, pool: asyncpg.Pool
) -> None:
    client = browser(two_processes[0], address())
    phone, _ = new_contact()
    form = complaint_form(**{"customer.phone": phone})
    page = await client.get("/portal/complain")
    hidden = hidden_fields(page.text, "/portal/complain")
    too_fast = await submit(client, "", "/portal/complain", form, files=[], hidden=hidden)
    assert too_fast.status_code == 400 and "Xin kiểm tra lại biểu mẫu và gửi lại." in too_fast.text
    assert "Trần Thị Bích" in too_fast.text  # what was typed is kept for the person who was too quick
    await asyncio.sleep(1.05)
    filled = await submit(client, "", "/portal/complain", {**form, "website": "http://spam.example"}, [], hidden)
    forged = await submit(client, "", "/portal/complain", form, [], {**hidden, "stamp": hidden["stamp"][:-2] + "xx"})
    assert filled.status_code == forged.status_code == 400
    assert await pool.fetchval("SELECT count(*) FROM complaints WHERE customer ->> 'phone' = $1", phone) == 0
    in_time = await submit(client, "", "/portal/complain", form, files=[], hidden=hidden)
    assert in_time.status_code == 303


async def test_a_post_over_the_size_limit_is_refused_before_it_is_read(
    two_processes: tuple[Starlette, Starlette], browser: Browser
) -> None:
    client = browser(two_processes[0], address())
    page = await client.get("/portal/complain")
    big = [("files", ("big.png", PNG * 40, "image/png"))]
    response = await submit(
        client, "", "/portal/complain", complaint_form(), big, hidden_fields(page.text, "/portal/complain")
    )
    assert response.status_code == 413 and "Biểu mẫu quá lớn" in response.text and "portal.css" in response.text


async def test_an_expired_or_altered_link_opens_nothing(
    app: Starlette, browser: Browser, web_settings: WebSettings
) -> None:
    cid = await complain(browser(app, address()))
    links = web_settings.case_links()
    visitor = browser(app, address())
    expired = links.sign(cid, datetime.now(UTC) - links.lifetime - timedelta(minutes=1))
    valid = links.sign(cid, datetime.now(UTC))
    altered_expiry = valid.replace(valid.split("~")[1], f"{int(time.time()) + 10**6:x}")
    altered_signature = valid[:-3] + ("AAA" if not valid.endswith("AAA") else "BBB")
    other_case = valid.replace(cid, cid[:-1] + ("0" if cid[-1] != "0" else "1"))
    answer = await visitor.get(f"/portal/c/{expired}")
    assert answer.status_code == 410 and "Đường dẫn này đã hết hạn" in answer.text
    for token in (altered_expiry, altered_signature, other_case, "not-a-token"):
        answer = await visitor.get(f"/portal/c/{token}")
        assert answer.status_code == 404 and "Đường dẫn này không hợp lệ" in answer.text, token
    assert PORTAL_COOKIE not in visitor.cookies or cid not in str(visitor.cookies.get(PORTAL_COOKIE))
    assert (await visitor.get(f"/portal/case/{cid}")).headers["location"] == "/portal/follow"


async def test_another_cases_documents_and_files_are_out_of_reach(
    app: Starlette, browser: Browser, queries: ComplaintQueries, complaints: ComplaintClient
) -> None:
    mine, theirs = browser(app, address()), browser(app, address())
    my_case = await complain(mine, files=[("files", ("của tôi.png", PNG, "image/png"))])
    their_case = await complain(theirs, files=[("files", ("của họ.png", PNG + b"x", "image/png"))])
    their_state = await queries.get_snapshot(their_case)
    assert their_state is not None
    their_file = their_state.intake.attachments[0].attachment_id
    for path in (
        f"/portal/case/{their_case}",
        f"/portal/case/{their_case}/received",
        f"/portal/case/{their_case}/documents/receipt_form/1",
        f"/portal/case/{their_case}/files/{their_file}",
    ):
        answer = await mine.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/portal/follow", path
    assert (await mine.get(f"/portal/case/{my_case}/files/{their_file}")).status_code == 404
    forged = browser(app, address())
    forged.cookies.set(
        PORTAL_COOKIE, mine.cookies[PORTAL_COOKIE][:-4] + "AAAA", domain="testserver.local", path="/portal"
    )
    assert (await forged.get(f"/portal/case/{my_case}")).status_code == 303


async def test_behind_a_proxy_each_customer_is_counted_by_the_address_it_forwards(
    two_processes: tuple[Starlette, Starlette],
) -> None:
    """`COMPLAINTS_PROXY_HEADERS`: served as `complaints web` serves it, the trusted proxy's `X-Forwarded-For` is the
    address the throttle counts, so one customer past the limit does not lock out everyone behind the proxy."""
    stop, ready = asyncio.Event(), asyncio.Event()
    port = free_port()
    serving = asyncio.create_task(
        serve(
            two_processes[0], "127.0.0.1", port, stop, ready=ready, proxy_headers=True, forwarded_allow_ips="127.0.0.1"
        )
    )
    await asyncio.wait_for(ready.wait(), timeout=15)
    prefix = uuid.uuid4().hex[:4]
    try:

        async def look_up(forwarded: str, n: int) -> int:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"X-Forwarded-For": forwarded}
            ) as client:
                page = await client.get("/portal/follow")
                await asyncio.sleep(1.05)
                hidden = hidden_fields(page.text, "/portal/follow")
                number = f"KN-2026-{int(prefix, 16) % 90000 + 100000 + n:06d}"
                response = await client.post("/portal/follow", data={**hidden, "case_number": number, "contact": "09"})
                return response.status_code

        first, second = f"198.51.100.{int(prefix, 16) % 200 + 1}", f"198.51.100.{int(prefix, 16) % 200 + 2}"
        assert [await look_up(first, n) for n in range(5)] == [422, 422, 422, 422, 429]
        assert await look_up(second, 5) == 422
    finally:
        stop.set()
        await asyncio.wait_for(serving, timeout=15)
