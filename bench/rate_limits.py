"""What the rate limiter adds to a request: the whole app (every middleware) driven in-process
over ASGI, once without the rate-limit middleware (the baseline, same run) and once with it,
in memory and in Redis, anonymous and with a bearer token.

Run from the repository root: `.venv/bin/python -m bench.rate_limits [--requests 2000]`.
The default limits (120/min per token, 30/min anonymous) hold: 100 callers take turns.
Needs the Redis on 127.0.0.1:6379 (REDIS_URL overrides). Prints one JSON document: per variant
the median over 3 runs of the per-request median latency, with the runs' spread, and what the
limiter adds to the baseline, in latency and in this process's CPU time. Target: it adds well
under 1 ms (≤ 0.5 ms) per request.
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from api.app import create_app
from api.rate_limits import RateLimitMiddleware
from core.process import exit_hard
from core.security import TokenKind, create_token
from core.settings import Settings
from worker.cli import migrate

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# A route that is mostly the middlewares, and one that reads the database once (the limiter
# reads the window for the headers while the route runs).
PATHS = {"tiers (no database)": "/api/v1/wallet/tiers", "agent (one read)": "/api/v1/agents/{id}"}
RUNS = 3
BASELINE = "baseline (no rate limit)"
CALLERS = 100
TARGET_ADDED_US = 500.0
SECRET = "bench-secret-" + "x" * 32


async def _latencies_us(
    settings: Settings, path: str, limited: bool, bearer: bool, requests: int
) -> tuple[float, float]:
    """The median latency of `requests` sequential GETs through the whole app, from CALLERS
    callers in turn (each stays within the contract's limits, as real traffic does), and the
    CPU time this process spent per request (which other load on the machine barely moves)."""
    app = create_app(settings)
    if not limited:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RateLimitMiddleware]
    callers = [
        {"Authorization": f"Bearer {_token()}"} if bearer else {"X-Forwarded-For": f"10.1.{n}.1"}
        for n in range(CALLERS)
    ]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for headers in callers:  # warm-up: one request each
                await client.get(path, headers=headers)
            timings = []
            cpu_started = time.process_time()
            for n in range(requests):
                started = time.perf_counter()
                response = await client.get(path, headers=callers[n % CALLERS])
                timings.append((time.perf_counter() - started) * 1e6)
                assert response.status_code == 200, response.text
            cpu = (time.process_time() - cpu_started) / requests * 1e6
    return statistics.median(timings), cpu


async def _redis_round_trip_us(samples: int = 500) -> float:
    """One PING from Python, median: what a round trip to Redis costs on this machine now."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            await client.ping()
            timings.append((time.perf_counter() - started) * 1e6)
        return statistics.median(timings)
    finally:
        await client.aclose()


def _token() -> str:
    return create_token(
        TokenKind.AGENT, uuid.uuid4(), secret=SECRET, algorithm="HS256", expire_hours=1
    )


def _summary(runs: list[tuple[float, float]]) -> dict[str, float]:
    latencies, cpu = [r[0] for r in runs], [r[1] for r in runs]
    return {
        "p50_us": round(statistics.median(latencies), 1),
        "spread_us": round(max(latencies) - min(latencies), 1),
        "cpu_us": round(statistics.median(cpu), 1),
    }


async def main(requests: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    url = f"sqlite+aiosqlite:///{scratch}/bench.db"
    migrate(url)
    base: dict[str, Any] = {
        "database_url": url,
        "content_store_path": str(scratch / "content"),
        "cdn_warm_path": str(scratch / "warm"),
        "jwt_secret_key": SECRET,
        "temporal_address": "127.0.0.1:1",
        "log_level": "WARNING",
        "trusted_proxies": "127.0.0.1",  # callers told apart by X-Forwarded-For
    }
    variants = {
        BASELINE: ({}, False, False),
        "memory, anonymous": ({}, True, False),
        "memory, bearer token": ({}, True, True),
        "redis, anonymous": ({"rate_limit_storage_url": REDIS_URL}, True, False),
        "redis, bearer token": ({"rate_limit_storage_url": REDIS_URL}, True, True),
    }
    agent_id = await _an_agent(Settings(**base))
    round_trips = []
    results: dict[str, Any] = {}
    for label, template in PATHS.items():
        path = template.format(id=agent_id)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(RUNS):  # interleaved, so a noisy moment hits every variant alike
            for name, (extra, limited, bearer) in variants.items():
                prefix = f"bench-{uuid.uuid4().hex[:8]}"  # fresh counts every run
                settings = Settings(**{**base, **extra, "rate_limit_key_prefix": prefix})
                runs[name].append(await _latencies_us(settings, path, limited, bearer, requests))
            round_trips.append(await _redis_round_trip_us())
        results[label] = _compare(runs)
    return {
        "bench": "rate_limits",
        "requests_per_run": requests,
        "runs": RUNS,
        "target": f"the limiter adds <= {TARGET_ADDED_US:.0f} us per request (p50)",
        "redis_round_trip_us": round(statistics.median(round_trips), 1),
        "load_average": os.getloadavg(),
        "results": results,
        "pass": all(r.get("pass", True) for by in results.values() for r in by.values()),
    }


def _compare(runs: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    baseline = _summary(runs[BASELINE])
    compared: dict[str, Any] = {BASELINE: baseline}
    for name, timings in runs.items():
        if name == BASELINE:
            continue
        figures: dict[str, Any] = _summary(timings)
        added = figures["p50_us"] - baseline["p50_us"]
        figures |= {
            "added_us": round(added, 1),
            "added_cpu_us": round(figures["cpu_us"] - baseline["cpu_us"], 1),
            "ratio_to_baseline": round(figures["p50_us"] / baseline["p50_us"], 2),
            "pass": added <= TARGET_ADDED_US,
        }
        compared[name] = figures
    return compared


async def _an_agent(settings: Settings) -> str:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            body = {"name": f"bench-{uuid.uuid4().hex[:8]}", "agent_type": "both"}
            response = await client.post("/api/v1/agents/register", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    report = asyncio.run(main(args.requests))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    exit_hard(run)
