"""Discovery latency on PostgreSQL: `/discover` through a real API server, next to the same
search as raw SQL, over 100,000 seeded listings.

    .venv/bin/python -m bench.discover [--listings 100000] [--requests 300]

Target: p99 <= 25 ms through the API, and <= 3x the raw query. Prints one JSON document.
"""

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from bench.ledger import _drop, _libpq, _scratch_database
from worker.cli import migrate

WORDS = [
    "python",
    "asyncio",
    "rust",
    "tokio",
    "golang",
    "kubernetes",
    "docker",
    "postgres",
    "redis",
    "kafka",
    "search",
    "summary",
    "benchmark",
    "latency",
    "pricing",
    "weather",
    "finance",
    "crypto",
    "news",
    "sports",
    "medicine",
    "law",
    "contracts",
    "invoice",
    "translation",
    "japanese",
    "french",
    "german",
    "spanish",
    "legal",
    "audit",
    "security",
    "vulnerability",
    "dependency",
    "license",
    "report",
    "analysis",
    "dataset",
    "embeddings",
    "vector",
    "sql",
    "graphql",
    "rest",
    "api",
    "serverless",
    "lambda",
    "cache",
    "cdn",
    "index",
    "ranking",
    "recommendation",
    "sentiment",
    "forecast",
    "climate",
    "energy",
]
# Real text is Zipf-distributed over a large vocabulary: 5,000 words, the named ones spread over
# the ranks: "python" is rank 20, "asyncio" 100, "kubernetes" 420.
VOCABULARY = [f"w{i}" for i in range(5_000)]
for rank, word in zip(range(20, 5_000, 80), WORDS, strict=False):
    VOCABULARY[rank] = word
ZIPF_WEIGHTS = [1 / (rank + 1) for rank in range(len(VOCABULARY))]
CATEGORIES = ("web_search", "code_analysis", "document_summary", "api_response", "computation")

QUERIES: dict[str, tuple[dict[str, str], str, list[object]]] = {
    "keyword": (
        {"q": "python asyncio"},
        "SELECT id FROM data_listings WHERE status = 'active' AND "
        "search_vector @@ plainto_tsquery('english', %s) "
        "ORDER BY ts_rank(search_vector, plainto_tsquery('english', %s)) DESC, id LIMIT 20",
        ["python asyncio", "python asyncio"],
    ),
    "filtered": (
        {"q": "kubernetes", "category": "web_search", "max_price": "0.5", "min_quality": "0.5"},
        "SELECT id FROM data_listings WHERE status = 'active' AND category = 'web_search' AND "
        "price_units <= 500000 AND quality_score >= 0.5 AND "
        "search_vector @@ plainto_tsquery('english', %s) "
        "ORDER BY ts_rank(search_vector, plainto_tsquery('english', %s)) DESC, id LIMIT 20",
        ["kubernetes", "kubernetes"],
    ),
    "broad": (
        {"q": "python"},
        "SELECT id FROM data_listings WHERE status = 'active' AND "
        "search_vector @@ plainto_tsquery('english', %s) "
        "ORDER BY ts_rank(search_vector, plainto_tsquery('english', %s)) DESC, id LIMIT 20",
        ["python", "python"],
    ),
    "sorted": (
        {"category": "code_analysis", "sort_by": "price_asc"},
        "SELECT id FROM data_listings WHERE status = 'active' AND category = 'code_analysis' "
        "ORDER BY price_units ASC, id LIMIT 20",
        [],
    ),
}


def _seed(url: str, count: int) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    with psycopg.connect(_libpq(url)) as conn:
        seller = uuid.uuid4()
        conn.execute(
            "INSERT INTO registered_agents (id, name, description, agent_type, public_key, "
            "wallet_address, capabilities, a2a_endpoint, status, created_at, updated_at) "
            "VALUES (%s, 'bench-seller', '', 'seller', '', '', '[]', '', 'active', %s, %s)",
            (seller, now, now),
        )
        with conn.cursor().copy(
            "COPY data_listings (id, seller_id, title, description, category, content_hash, "
            "content_size, content_type, price_units, currency, metadata, tags, quality_score, "
            "freshness_at, status, access_count, search_text, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                title = " ".join(rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=4))
                description = " ".join(rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=12))
                tags = rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=3)
                fresh = now - timedelta(hours=rng.randint(0, 24 * 30))
                copy.write_row(
                    (
                        uuid.uuid4(),
                        seller,
                        title,
                        description,
                        rng.choice(CATEGORIES),
                        "sha256:" + f"{i:064x}",
                        1024,
                        "text/plain",
                        rng.randint(1_000, 900_000),
                        "USDC",
                        "{}",
                        json.dumps(tags),
                        f"{rng.randint(0, 1000) / 1000:.3f}",
                        fresh,
                        "active",
                        0,
                        " ".join([title, description, *tags]),
                        fresh,
                        fresh,
                    )
                )
        conn.execute("ANALYZE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000, 2),
    }


def _timed(call: Callable[[], object], n: int) -> list[float]:
    for _ in range(min(20, n)):  # warm-up
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    url = _scratch_database("bench_discover")
    port = _free_port()
    server = None
    try:
        migrate(url)
        _seed(url, args.listings)
        env = {
            **os.environ,
            "ENVIRONMENT": "development",
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "CONTENT_STORE_PATH": f"/tmp/bench-content-{port}",
            "REST_RATE_LIMIT_ANONYMOUS": "1000000",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}/api/v1/discover"
        with httpx.Client(timeout=10) as client:
            for _ in range(100):
                try:
                    client.get(base)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            results = {}
            with psycopg.connect(_libpq(url), autocommit=True) as conn:
                for name, (params, sql, sql_args) in QUERIES.items():
                    matched = client.get(base, params=params).json()["total"]
                    api = _percentiles(
                        _timed(lambda p=params: client.get(base, params=p), args.requests)
                    )
                    raw = _percentiles(
                        _timed(
                            lambda s=sql, a=sql_args: conn.execute(s, a).fetchall(), args.requests
                        )
                    )
                    results[name] = {
                        "params": params,
                        "matched": matched,
                        "api": api,
                        "raw_sql": raw,
                        "p99_ratio_api_to_raw": round(api["p99_ms"] / raw["p99_ms"], 2),
                    }
        print(
            json.dumps(
                {
                    "benchmark": "discover_postgresql",
                    "listings": args.listings,
                    "requests_per_query": args.requests,
                    "queries": results,
                },
                indent=2,
            )
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        _drop(url)


if __name__ == "__main__":
    main()
