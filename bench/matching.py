"""Auto-match and catalog notification cost on PostgreSQL, through a real API server.

    .venv/bin/python -m bench.matching [--listings 100000] [--subscriptions 10000]
                                       [--requests 200] [--runs 3]

- `POST /agents/auto-match` (no purchase) over `--listings` seeded listings (bench.discover's
  Zipf text), next to `GET /discover` with the same words in the same run (the baseline: the
  search a buyer would otherwise make, searched at every request: the server runs with
  `DISCOVERY_CACHE_BYTES=0`). Target: p99 <= 25 ms (discover's target) and <= 3x
  discover's p99.
- `POST /catalog` with no subscriptions, then with `--subscriptions` seeded ones (none of which
  match, so the figure is the scan): what each entry change pays for notifying. No target in the
  issue; the ratio shows how the scan grows.

Median of `--runs` runs, with the spread (min-max). Prints one JSON document.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from bench.corpus import insert_agent, seed
from bench.ledger import drop_database, libpq, scratch_postgres
from bench.load import percentiles, timed
from bench.stack import free_port
from domain.catalog.subscriptions import like_of
from worker.cli import migrate

AUTO_MATCH = {
    "keyword": {"description": "python asyncio"},
    "category": {"description": "kubernetes", "category": "web_search", "max_price": "0.5"},
}
DISCOVER = {
    "keyword": {"q": "python asyncio"},
    "category": {"q": "kubernetes", "category": "web_search", "max_price": "0.5"},
}
TARGET_P99_MS, TARGET_RATIO = 25.0, 3.0


def _seed_subscriptions(url: str, count: int) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(libpq(url)) as conn:
        subscriber = uuid.uuid4()
        insert_agent(conn, subscriber, f"bench-sub-{subscriber.hex[:6]}", "buyer", now)
        with conn.cursor().copy(
            "COPY catalog_subscriptions (id, subscriber_id, namespace_pattern, topic_pattern, "
            "namespace_like, topic_like, notify_via, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                pattern = f"ns{i}.*"
                row = (pattern, "*", like_of(pattern), like_of("*"), "websocket", now, now)
                copy.write_row((uuid.uuid4(), subscriber, *row))
        conn.execute("ANALYZE")


def _server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "CONTENT_STORE_PATH": f"/tmp/bench-content-{port}",
        "REST_RATE_LIMIT_ANONYMOUS": "1000000",
        "REST_RATE_LIMIT_AUTHENTICATED": "1000000",
        # The baseline is the search a buyer would make: searched, not a page served again
        # (ADR 0043), as auto-match always searches.
        "DISCOVERY_CACHE_BYTES": "0",
    }
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, env=env)


def _ok(response: httpx.Response) -> httpx.Response:
    response.raise_for_status()
    return response


def _one_run(client: httpx.Client, base: str, headers: dict[str, str], n: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, body in AUTO_MATCH.items():

        def match(b: dict[str, str] = body) -> object:
            return _ok(client.post(f"{base}/agents/auto-match", headers=headers, json=b))

        def discover(p: dict[str, str] = DISCOVER[name]) -> object:
            return _ok(client.get(f"{base}/discover", params=p))

        figures[f"auto_match_{name}"] = percentiles(timed(match, n))
        figures[f"discover_{name}"] = percentiles(timed(discover, n))
    return figures


def _declare(client: httpx.Client, base: str, headers: dict[str, str]) -> Callable[[], object]:
    body = {"namespace": "bench.x", "topic": "t", "price_range_min": "0", "price_range_max": "1"}
    return lambda: _ok(client.post(f"{base}/catalog", headers=headers, json=body))


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = scratch_postgres("bench_matching")
    port = free_port()
    server = None
    try:
        migrate(url)
        seed(url, args.listings)
        server = _server(url, port)
        base = f"http://127.0.0.1:{port}/api/v1"
        with httpx.Client(timeout=30) as client:
            for _ in range(300):
                try:
                    client.get(f"{base}/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            name = f"bench-{uuid.uuid4().hex[:8]}"
            agent = _ok(
                client.post(f"{base}/agents/register", json={"name": name, "agent_type": "both"})
            ).json()
            headers = {"Authorization": f"Bearer {agent['jwt_token']}"}
            runs = [_one_run(client, base, headers, args.requests) for _ in range(args.runs)]
            declare = _declare(client, base, headers)
            bare = [percentiles(timed(declare, args.requests)) for _ in range(args.runs)]
            _seed_subscriptions(url, args.subscriptions)
            loaded = [percentiles(timed(declare, args.requests)) for _ in range(args.runs)]
        result: dict[str, Any] = {"benchmark": "matching_postgresql", "listings": args.listings}
        for kind in AUTO_MATCH:
            p99 = [r[f"auto_match_{kind}"]["p99_ms"] for r in runs]
            p50 = [r[f"auto_match_{kind}"]["p50_ms"] for r in runs]
            base_p99 = [r[f"discover_{kind}"]["p99_ms"] for r in runs]
            ratios = [round(a / b, 2) for a, b in zip(p99, base_p99, strict=True)]
            result[f"auto_match_{kind}"] = {
                "body": AUTO_MATCH[kind],
                "p50_ms": _spread(p50),
                "p99_ms": _spread(p99),
                "discover_p99_ms": _spread(base_p99),
                "p99_ratio_to_discover": _spread(ratios),
                "target": f"p99 <= {TARGET_P99_MS} ms and <= {TARGET_RATIO}x discover",
                "pass": statistics.median(p99) <= TARGET_P99_MS
                and statistics.median(ratios) <= TARGET_RATIO,
            }
        result["catalog_create"] = {
            "subscriptions": args.subscriptions,
            "p50_ms_without": _spread([r["p50_ms"] for r in bare]),
            "p50_ms_with": _spread([r["p50_ms"] for r in loaded]),
            "p99_ms_without": _spread([r["p99_ms"] for r in bare]),
            "p99_ms_with": _spread([r["p99_ms"] for r in loaded]),
            "target": "none set (the ratio shows the scan's cost)",
        }
        print(json.dumps(result, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        drop_database(url)


if __name__ == "__main__":
    main()
