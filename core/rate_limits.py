"""Rate limits every API process shares: the `limits` library's moving window, in Redis when a
storage URL is set, else in this process's memory (ADR 0019).

One small API for every caller (the REST middleware, registrations, the MCP server):
`await limiter.hit("mcp:<session>", "60/minute", name="mcp")` counts one call and answers
whether it is allowed, with what the RateLimit-* headers need.

A shared store that fails does not fail the request: for a few seconds this process counts in
its own memory instead, so every process still limits, each on its own, until Redis is back.
"""

import logging
import math
import time
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


class Limiter:
    def __init__(self, storage_url: str = "", *, key_prefix: str = "agentchains") -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
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
        item = _item(rate)
        verdict = await self._hit_shared(item, key)
        if verdict is None:
            verdict = await self._hit(self._local, item, key)
        if not verdict.allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(name).inc()
        return verdict

    async def _hit_shared(self, item: RateLimitItem, key: str) -> Verdict | None:
        if self._shared is None or time.monotonic() < self._shared_down_until:
            return None
        try:
            return await self._hit(self._shared, item, key)
        except Exception as exc:  # the store's errors, timeouts included: never the request's
            metrics.RATE_LIMIT_STORE_ERRORS.inc()
            self._shared_down_until = time.monotonic() + SHARED_STORE_RETRY_SECONDS
            log.warning(
                "rate-limit store unavailable; counting in this process for a while",
                extra={"error": f"{type(exc).__name__}: {exc}"[:200]},
            )
            return None

    @staticmethod
    async def _hit(strategy: MovingWindowRateLimiter, item: RateLimitItem, key: str) -> Verdict:
        allowed = await strategy.hit(item, key)
        reset_at, remaining = await strategy.get_window_stats(item, key)
        reset = max(0, math.ceil(reset_at - time.time()))
        return Verdict(allowed, item.amount, remaining, reset)
