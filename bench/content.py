"""Content delivery throughput: the hot tier against a plain dict, HashFS against plain file reads.

Run from the repository root: `.venv/bin/python -m bench.content`. Prints one JSON document.
Each figure is the best of a few timed rounds of ~0.3 s, so the whole run stays well under 30 s.
MB/s counts 10**6 bytes; hot reads hand out the cached `bytes` object, so no byte is copied.
"""

import asyncio
import json
import os
import platform
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from domain.content.cdn import ContentDelivery
from domain.content.store import HashFS

SIZES = {"4KB": 4096, "1MB": 1024 * 1024}
ITEMS_PER_SIZE = {"4KB": 256, "1MB": 16}
ROUNDS = 3
ROUND_SECONDS = 0.3


async def _reads_per_second(read_all: Callable[[], Awaitable[int]]) -> float:
    """Best rate over ROUNDS rounds; `read_all` reads every item once and returns the count."""
    best = 0.0
    for _ in range(ROUNDS):
        reads, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < ROUND_SECONDS:
            reads += await read_all()
        best = max(best, reads / elapsed)
    return best


def _figures(rate: float, size: int) -> dict[str, float]:
    return {"reads_per_s": round(rate), "mb_per_s": round(rate * size / 1e6, 1)}


async def _hot_tier(root: Path, size: int, count: int) -> dict[str, Any]:
    items = [os.urandom(size) for _ in range(count)]
    cdn = ContentDelivery(HashFS(root / "cold"), root / "warm", size * count, promote_after=0)
    keys = [await cdn.put(item) for item in items]
    for key, item in zip(keys, items, strict=True):
        await cdn.get(key)  # first access promotes (promote_after=0)
        assert await cdn.get(key) == (item, "hot")
    plain = dict(zip(keys, items, strict=True))

    async def from_hot_tier() -> int:
        for key in keys:
            await cdn.get(key)
        return len(keys)

    async def from_dict() -> int:
        for key in keys:
            plain[key]  # the lookup is what is measured
        return len(keys)

    hot = await _reads_per_second(from_hot_tier)
    baseline = await _reads_per_second(from_dict)
    return {
        "hot_tier": _figures(hot, size),
        "plain_dict": _figures(baseline, size),
        "hot_vs_dict": round(hot / baseline, 4),
    }


async def _cold_tier(root: Path, size: int, count: int) -> dict[str, Any]:
    store = HashFS(root / "cold")
    keys = [await store.put(os.urandom(size)) for _ in range(count)]
    digests = [key.removeprefix("sha256:") for key in keys]
    paths = [store.root / d[:2] / d[2:4] / d for d in digests]  # the very files HashFS reads

    async def from_hashfs() -> int:
        for key in keys:
            await store.get(key)
        return len(keys)

    async def from_files() -> int:
        for path in paths:
            path.read_bytes()
        return len(paths)

    cold = await _reads_per_second(from_hashfs)
    baseline = await _reads_per_second(from_files)
    return {
        "hashfs": _figures(cold, size),
        "plain_file_read": _figures(baseline, size),
        "hashfs_vs_file": round(cold / baseline, 4),
    }


async def run() -> dict[str, Any]:
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "rounds": ROUNDS,
        "round_seconds": ROUND_SECONDS,
        "hot": {},
        "cold": {},
    }
    for label, size in SIZES.items():
        count = ITEMS_PER_SIZE[label]
        with tempfile.TemporaryDirectory() as hot_root:
            report["hot"][label] = await _hot_tier(Path(hot_root), size, count)
        with tempfile.TemporaryDirectory() as cold_root:
            report["cold"][label] = await _cold_tier(Path(cold_root), size, count)
    return report


def main() -> None:
    started = time.perf_counter()
    report = asyncio.run(run())
    report["total_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
