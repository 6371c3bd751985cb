"""Sign-in throttling: failed sign-ins counted per account and per client address, in PostgreSQL, so every web
process behind a load balancer counts against the same limits.

The counting is the `limits` library's fixed-window strategy on a small storage of ours (`PostgresStorage`):
one row per key, changed by one atomic upsert on the database's clock, so two processes never race and never
disagree about when a window ends. A fixed window, not a moving one: one row per key instead of one per attempt,
and "try again in N minutes" is simply the time left in the window. Its known slack (up to twice the limit
around a window's end) still leaves guessing a password at a few attempts per quarter of an hour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.requests import Request

from web.settings import WebSettings


class PostgresStorage(Storage):
    """`limits` counters in the `rate_limit_counters` table (migrations/0003_sessions.sql).

    Supports the fixed-window strategy (`incr`, `get`, `get_expiry`); errors are PostgreSQL's own, unwrapped, so a
    server that is away reads as "records temporarily unavailable" like every other query of the web form."""

    STORAGE_SCHEME = None

    def __init__(self, pool: asyncpg.Pool, wrap_exceptions: bool = False) -> None:
        super().__init__(None, wrap_exceptions=wrap_exceptions)
        self.pool = pool

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (asyncpg.PostgresError, OSError)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the key's window, starting a new window of `expiry` seconds when the last one ended."""
        count: int = await self.pool.fetchval(
            """
            INSERT INTO rate_limit_counters AS c (key, count, expires_at)
            VALUES ($1, $3, now() + make_interval(secs => $2))
            ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN c.expires_at <= now() THEN EXCLUDED.count ELSE c.count + EXCLUDED.count END,
                expires_at = CASE WHEN c.expires_at <= now() THEN EXCLUDED.expires_at ELSE c.expires_at END
            RETURNING count
            """,
            key,
            float(expiry),
            amount,
        )
        return count

    async def get(self, key: str) -> int:
        count = await self.pool.fetchval(
            "SELECT count FROM rate_limit_counters WHERE key = $1 AND expires_at > now()", key
        )
        return int(count or 0)

    async def get_expiry(self, key: str) -> float:
        """When the key's window ends, in seconds since the epoch; now when it has none."""
        ends = await self.pool.fetchval(
            "SELECT extract(epoch FROM expires_at)::float8 FROM rate_limit_counters "
            "WHERE key = $1 AND expires_at > now()",
            key,
        )
        return float(ends) if ends is not None else time.time()

    async def check(self) -> bool:
        try:
            await self.pool.fetchval("SELECT 1")
        except (asyncpg.PostgresError, OSError):
            return False
        return True

    async def reset(self) -> int | None:
        result = await self.pool.execute("DELETE FROM rate_limit_counters")
        return int(result.split()[-1])

    async def clear(self, key: str) -> None:
        await self.pool.execute("DELETE FROM rate_limit_counters WHERE key = $1", key)

    async def remove_expired(self) -> None:
        """Windows that ended are worth nothing; called now and then so the table stays the size of the attacks
        of the last quarter of an hour."""
        await self.pool.execute("DELETE FROM rate_limit_counters WHERE expires_at <= now()")


@dataclass(frozen=True)
class Throttled:
    """Sign-in is refused without looking at the password until this many seconds have passed."""

    seconds: float

    @property
    def minutes(self) -> int:
        """Whole minutes to tell a person: rounded up, and never "0 minutes"."""
        return max(1, -(-int(self.seconds) // 60))


class SignInThrottle:
    """Failed sign-ins per account (anyone guessing one password) and per client address (one machine trying
    many accounts); either over its limit throttles the sign-in."""

    def __init__(self, pool: asyncpg.Pool, settings: WebSettings) -> None:
        self.storage = PostgresStorage(pool)
        self.limiter = FixedWindowRateLimiter(self.storage)
        window = settings.sign_in_window_seconds
        self.per_account: RateLimitItem = RateLimitItemPerSecond(settings.sign_in_failures_per_account, window)
        self.per_address: RateLimitItem = RateLimitItemPerSecond(settings.sign_in_failures_per_address, window)

    def _limits(self, account: str, address: str) -> list[tuple[RateLimitItem, tuple[str, str]]]:
        return [(self.per_account, ("sign-in-account", account)), (self.per_address, ("sign-in-address", address))]

    async def throttled(self, account: str, address: str) -> Throttled | None:
        """Whether a sign-in for `account` from `address` must wait now, and how long."""
        waits: list[float] = []
        for item, identity in self._limits(account, address):
            if not await self.limiter.test(item, *identity):
                stats = await self.limiter.get_window_stats(item, *identity)
                waits.append(stats.reset_time - time.time())
        return Throttled(max(max(waits), 1.0)) if waits else None

    async def failed(self, account: str, address: str) -> None:
        await self.storage.remove_expired()
        for item, identity in self._limits(account, address):
            await self.limiter.hit(item, *identity)

    async def succeeded(self, account: str) -> None:
        """The account's own count starts over; the address's does not, so one valid account cannot be used to
        wipe the count of a machine spraying the others."""
        await self.limiter.clear(self.per_account, "sign-in-account", account)


def client_address(request: Request) -> str:
    """The client's address as the server sees it, which the throttles count per address: the peer, or behind a
    trusted proxy (`proxy_headers`) the address it forwarded."""
    return request.client.host if request.client is not None else "unknown"
