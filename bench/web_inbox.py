"""How long one inbox page takes to render with 10,000 complaints, and how that compares with 100.

    uv run python bench/web_inbox.py [--complaints 10000] [--repeat 30]

Runs the real app (httpx over ASGI, signed in, every middleware) against an embedded PostgreSQL seeded straight
into the read model; the inbox reads only Postgres, so no Temporal server is needed. Prints the median and p95 of
each view, and the ratio of the 10k figure to the 100 one (1.0 would be no slowdown at all).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "web"))

from web_support import seed_complaints  # noqa: E402

from activities.database import create_pool, dsn_for_database  # noqa: E402
from activities.migrations import migrate  # noqa: E402
from bench.report import quantile  # noqa: E402
from complaints.postgres_server import embedded_postgres  # noqa: E402
from starter.client import ComplaintClient  # noqa: E402
from web.app import build_web_app  # noqa: E402
from web.settings import WebSettings  # noqa: E402
from web.users import add_user  # noqa: E402

VIEWS: dict[str, dict[str, str]] = {
    "default (open, most urgent first)": {},
    "search customer name": {"q": "nguyễn văn khách 99"},
    "search case-number prefix": {"q": "KN-2025-9050"},
    "filter channel+department": {"channel": "letter", "department": "billing"},
    "all stages, deep page": {"stage": "all", "page": "300"},
}


async def measure(database_url: str, count: int, repeat: int, data_dir: Path) -> dict[str, list[float]]:
    pool = await create_pool(database_url)
    try:
        await migrate(pool)
        await seed_complaints(pool, count)
        await add_user(pool, "bench", "bench-password", "agent")
        # The inbox never talks to Temporal; the client is there because the app's other pages do: a lazy one,
        # which connects on its first call, never made here.
        complaints = ComplaintClient(await Client.connect("127.0.0.1:1", lazy=True))
        app = build_web_app(complaints, pool, WebSettings(data_dir=data_dir))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            login = await client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            await client.post(
                "/login", data={"csrf_token": token.group(1), "username": "bench", "password": "bench-password"}
            )
            timings: dict[str, list[float]] = {}
            for name, params in VIEWS.items():
                await client.get("/", params=params)  # warm: prepared statements, template compile
                runs = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    response = await client.get("/", params=params)
                    runs.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (name, response.status_code)
                timings[name] = runs
            return timings
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--complaints", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_postgres(Path(tmp), database="bench_100") as first:
            results: dict[int, dict[str, list[float]]] = {}
            for count in (100, args.complaints):
                name = f"bench_{count}"
                if count != 100:
                    admin = await asyncpg.connect(first)
                    await admin.execute(f'CREATE DATABASE "{name}"')
                    await admin.close()
                results[count] = await measure(dsn_for_database(first, name), count, args.repeat, Path(tmp) / "web")
    small, large = results[100], results[args.complaints]
    print(f"inbox page render, {args.repeat} runs each (ms; median / p95)")
    print(f"{'view':38} {'100 complaints':>16} {f'{args.complaints:,} complaints':>20} {'ratio':>7}")
    for view in VIEWS:
        a, b = small[view], large[view]
        print(
            f"{view:38} {statistics.median(a):7.1f} / {quantile(a, 0.95):6.1f}"
            f" {statistics.median(b):10.1f} / {quantile(b, 0.95):6.1f}"
            f" {statistics.median(b) / statistics.median(a):7.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
