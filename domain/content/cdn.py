"""Three-tier content delivery: hot (memory), warm (local disk), cold (the content store).

Every successful `get` counts one access to its key. An item enters the hot tier on the access
that takes its counter above `promote_after` (so with the default 10 it is promoted on the 11th
access and served hot from the 12th). The hot tier never holds more than `hot_max_bytes`; to
make room it evicts the least-frequently-used entries, but only entries used less often than the
newcomer (ties keep the incumbent, so equally popular items do not churn); otherwise the
newcomer stays out.

`decay()` halves every counter (integer division). An entry is *cold* when its counter is at
most 1 as a decay runs, so halving takes it to 0. Since a counter is "half the previous one plus
the accesses since the previous decay", cold means: no access in the last interval and at most 3
counted before it, or exactly one access and at most 1 counted before it. Cold entries leave the
hot tier and their counters are forgotten; their bytes remain in the warm and cold tiers.

Safe under asyncio concurrency: the hot tier and the counters are only changed by code that does
not await, and concurrent misses for the same key share one warm/cold fetch.
"""

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

from core.errors import Unavailable
from domain.content.store import ContentMissing, ContentStore, HashFS, content_key, digest_of

Tier = Literal["hot", "warm", "cold"]
TIERS: tuple[Tier, ...] = ("hot", "warm", "cold")

log = logging.getLogger(__name__)


class ContentCorrupted(Unavailable):
    code = "content_corrupted"


class ContentDelivery:
    def __init__(
        self,
        cold: ContentStore,
        warm_dir: Path,
        hot_max_bytes: int,
        promote_after: int = 10,
    ) -> None:
        if hot_max_bytes < 0 or promote_after < 0:
            raise ValueError("hot_max_bytes and promote_after cannot be negative")
        self.cold = cold
        # HashFS already gives the warm tier its sharded layout and atomic writes.
        self.warm = HashFS(warm_dir)
        self.hot_max_bytes = hot_max_bytes
        self.promote_after = promote_after

        self._hot: dict[str, bytes] = {}
        self._hot_bytes = 0
        # Hot keys grouped by counter, for LFU eviction; insertion order breaks ties.
        self._hot_by_count: dict[int, dict[str, None]] = {}
        self._counts: dict[str, int] = {}
        self._fetches: dict[str, asyncio.Task[tuple[bytes, Tier]]] = {}

        self._hits: dict[Tier, int] = dict.fromkeys(TIERS, 0)
        self._misses: dict[Tier, int] = dict.fromkeys(TIERS, 0)
        self._promotions = 0
        self._evictions = 0

    async def put(self, data: bytes) -> str:
        """Write through to the cold store; content is immutable, so no cache can go stale."""
        return await self.cold.put(data)

    async def read(self, key: str) -> bytes:
        """The bytes alone (what a content store's `get` answers), through the tiers."""
        return (await self.get(key))[0]

    async def get(self, key: str) -> tuple[bytes, Tier]:
        """The bytes stored under `key` and the tier that served them."""
        # Hot keys were validated on their way in, so a hit needs no regex; anything else is
        # validated before the warm or cold tier sees it.
        hot = self._hot.get(key) if isinstance(key, str) else None
        if hot is not None:
            self._hits["hot"] += 1
            self._count_access(key)
            return hot, "hot"
        digest_of(key)
        try:
            data, tier = await asyncio.shield(self._shared_fetch(key))
        except ContentMissing:
            for name in TIERS:
                self._misses[name] += 1
            raise
        self._record_served_by(tier)
        count = self._count_access(key)
        if count > self.promote_after and key not in self._hot:
            self._admit(key, data, count)
        return data, tier

    def accesses(self, key: str) -> int:
        """The access counter of `key` (0 once forgotten by decay)."""
        return self._counts.get(key, 0)

    def decay(self) -> None:
        """Halve every counter; evict cold hot entries and forget cold counters."""
        halved = {key: count // 2 for key, count in self._counts.items()}
        self._counts = {key: count for key, count in halved.items() if count > 0}
        for key in [key for key in self._hot if halved[key] == 0]:
            self._hot_bytes -= len(self._hot.pop(key))
            self._evictions += 1
        by_count: dict[int, dict[str, None]] = {}
        for group in self._hot_by_count.values():
            for key in group:
                if key in self._hot:
                    by_count.setdefault(self._counts[key], {})[key] = None
        self._hot_by_count = by_count

    def stats(self) -> dict[str, Any]:
        """Per tier, `hits` counts requests it served and `misses` requests it passed down
        (callers that shared one fetch each count once)."""
        requests = self._hits["hot"] + self._misses["hot"]
        cached = self._hits["hot"] + self._hits["warm"]
        tiers: dict[str, dict[str, Any]] = {
            name: {
                "hits": self._hits[name],
                "misses": self._misses[name],
                "hit_rate": _ratio(self._hits[name], self._hits[name] + self._misses[name]),
            }
            for name in TIERS
        }
        tiers["hot"].update(
            bytes_used=self._hot_bytes,
            max_bytes=self.hot_max_bytes,
            entries=len(self._hot),
            promotions=self._promotions,
            evictions=self._evictions,
        )
        # hit_rate: the share of requests served without reaching the cold store.
        return {**tiers, "requests": requests, "hit_rate": _ratio(cached, requests)}

    def _shared_fetch(self, key: str) -> asyncio.Task[tuple[bytes, Tier]]:
        task = self._fetches.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch_below_hot(key))
            self._fetches[key] = task
            task.add_done_callback(lambda done: self._forget_fetch(key, done))
        return task

    def _forget_fetch(self, key: str, task: asyncio.Task[tuple[bytes, Tier]]) -> None:
        if self._fetches.get(key) is task:
            del self._fetches[key]
        if not task.cancelled():
            task.exception()  # every waiter may have been cancelled; mark it retrieved

    async def _fetch_below_hot(self, key: str) -> tuple[bytes, Tier]:
        try:
            return await self.warm.get(key), "warm"
        except ContentMissing:
            pass
        data = await self.cold.get(key)
        if content_key(data) != key:
            raise ContentCorrupted(f"The cold store returned bytes that do not hash to {key}")
        try:
            await self.warm.put(data)
        except OSError as exc:  # a full or broken cache disk must not fail the read
            log.warning("warm tier write failed for %s: %s", key, exc)
        return data, "cold"

    def _record_served_by(self, tier: Tier) -> None:
        self._hits[tier] += 1
        for above in TIERS[: TIERS.index(tier)]:
            self._misses[above] += 1

    def _count_access(self, key: str) -> int:
        previous = self._counts.get(key, 0)
        count = previous + 1
        self._counts[key] = count
        if key in self._hot:
            self._regroup(key, previous, count)
        return count

    def _regroup(self, key: str, previous: int, count: int) -> None:
        group = self._hot_by_count[previous]
        del group[key]
        if not group:
            del self._hot_by_count[previous]
        self._hot_by_count.setdefault(count, {})[key] = None

    def _admit(self, key: str, data: bytes, count: int) -> None:
        size = len(data)
        if size > self.hot_max_bytes:
            return
        victims = self._victims_to_fit(size, count)
        if victims is None:
            return
        for victim in victims:
            self._evict(victim)
        self._hot[key] = data
        self._hot_bytes += size
        self._hot_by_count.setdefault(count, {})[key] = None
        self._promotions += 1

    def _victims_to_fit(self, size: int, newcomer_count: int) -> list[str] | None:
        """The least-used hot keys whose removal makes room, or None if that would take an
        entry used at least as often as the newcomer."""
        needed = self._hot_bytes + size - self.hot_max_bytes
        victims: list[str] = []
        for count in sorted(self._hot_by_count):
            if needed <= 0 or count >= newcomer_count:
                break
            for key in self._hot_by_count[count]:
                if needed <= 0:
                    break
                victims.append(key)
                needed -= len(self._hot[key])
        return victims if needed <= 0 else None

    def _evict(self, key: str) -> None:
        count = self._counts[key]
        group = self._hot_by_count[count]
        del group[key]
        if not group:
            del self._hot_by_count[count]
        self._hot_bytes -= len(self._hot.pop(key))
        self._evictions += 1


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
