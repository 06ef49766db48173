"""Rate limits every API process shares: the `limits` library's moving window, in Redis when a
storage URL is set, else in this process's memory (ADR 0019).

One small API for every caller (the REST middleware, registrations, the MCP server):
`await limiter.hit("mcp:<session>", "60/minute", name="mcp")` counts one call and answers
whether it is allowed, with what the RateLimit-* headers need; `acquire` is the same in two
halves, so the second round trip to Redis can overlap the request's own work.

A shared store that fails does not fail the request: for a few seconds this process counts in
its own memory instead, so every process still limits, each on its own, until Redis is back.
"""

import asyncio
import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from core import metrics

log = logging.getLogger(__name__)

SHARED_STORE_RETRY_SECONDS = 5.0
SHARED_STORE_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    """Seconds until the oldest call counted leaves the window (one more call fits then)."""


@lru_cache(maxsize=256)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def _storage(url: str, key_prefix: str) -> Storage:
    """`redis://…` (or any `limits` storage URI) as its asyncio variant."""
    scheme = url if url.startswith("async+") else f"async+{url}"
    options: dict[str, float | str | bool] = {"wrap_exceptions": True}
    if "redis" in scheme.split("://", 1)[0]:
        options |= {
            "key_prefix": key_prefix,
            "implementation": "redispy",
            "socket_connect_timeout": SHARED_STORE_TIMEOUT_SECONDS,
            "socket_timeout": SHARED_STORE_TIMEOUT_SECONDS,
        }
    return storage_from_string(scheme, **options)  # type: ignore[return-value]


class _MemoryStorage(MemoryStorage):
    """`limits`' in-memory storage, sweeping expired entries once a second. As shipped (5.x) it
    starts a sweep of every key, each a thread hop, after every call: ~0.2-0.6 ms of CPU per
    request in a busy process. Entries past the window are ignored when counting anyway; the
    sweep only frees their memory."""

    SWEEP_SECONDS = 1.0
    _last_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        if time.monotonic() - self._last_sweep >= self.SWEEP_SECONDS:
            self._last_sweep = time.monotonic()
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class Limiter:
    def __init__(self, storage_url: str = "", *, key_prefix: str = "agentchains") -> None:
        self._local = MovingWindowRateLimiter(_MemoryStorage())
        self._shared = (
            MovingWindowRateLimiter(_storage(storage_url, key_prefix)) if storage_url else None
        )
        self._shared_down_until = 0.0

    @property
    def shared(self) -> bool:
        """Whether the counts are shared with other processes (a shared store is configured)."""
        return self._shared is not None

    async def hit(self, key: str, rate: str, *, name: str = "custom") -> Verdict:
        """Count one call against `key` at `rate` ("120/minute"); refusals are counted in the
        metrics under `name`."""
        _, window = await self.acquire(key, rate, name=name)
        return await window

    async def acquire(
        self, key: str, rate: str, *, name: str = "custom"
    ) -> tuple[bool, Awaitable[Verdict]]:
        """`hit` in two halves: whether the call is allowed (one round trip to the store), and
        the window's state after it, read in the background, so that a caller can overlap the
        second round trip with its own work (the REST middleware: with the request's)."""
        item = _item(rate)
        strategy = self._strategy()
        try:
            allowed = await strategy.hit(item, key)
        except Exception as exc:  # the store's errors, timeouts included: never the request's
            self._shared_failed(exc)
            strategy = self._local
            allowed = await strategy.hit(item, key)
        if not allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(name).inc()
        window = self._window(strategy, item, key, allowed)
        if strategy is self._shared:
            return allowed, asyncio.ensure_future(window)
        known = asyncio.get_running_loop().create_future()  # in memory: read at once
        known.set_result(await window)
        return allowed, known

    def _strategy(self) -> MovingWindowRateLimiter:
        if self._shared is None or time.monotonic() < self._shared_down_until:
            return self._local
        return self._shared

    def _shared_failed(self, exc: Exception) -> None:
        metrics.RATE_LIMIT_STORE_ERRORS.inc()
        self._shared_down_until = time.monotonic() + SHARED_STORE_RETRY_SECONDS
        log.warning(
            "rate-limit store unavailable; counting in this process for a while",
            extra={"error": f"{type(exc).__name__}: {exc}"[:200]},
        )

    async def _window(
        self, strategy: MovingWindowRateLimiter, item: RateLimitItem, key: str, allowed: bool
    ) -> Verdict:
        try:
            reset_at, remaining = await strategy.get_window_stats(item, key)
        except Exception as exc:  # the store went away between the two calls
            self._shared_failed(exc)
            reset_at, remaining = time.time() + item.get_expiry(), 0
        reset = max(0, math.ceil(reset_at - time.time()))
        return Verdict(allowed, item.amount, remaining, reset)
