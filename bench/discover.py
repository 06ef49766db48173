"""Discovery latency: `/discover` through a real API server, next to the same search as raw SQL,
over 100,000 seeded listings, on PostgreSQL (production) and SQLite (the embedded default).

    .venv/bin/python -m bench.discover [--database postgresql sqlite] [--listings 100000]
        [--requests 300] [--runs 3]

Each database is seeded once and served by one uvicorn process; then each run measures every
query shape through the API and as raw SQL on its own connection, back to back. Figures are the
median of the runs with their spread (min, max). Target (issue 9): every shape's API p99
<= 25 ms and <= 3x the raw query's p99 measured in the same run. Beside each shape, its limit
on this machine (the route refused by validation plus the raw query, p99) and the API's ratio
to it, and whether 3x the raw query is below the route's floor. Prints one JSON document.
"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import psycopg

from bench.corpus import seed
from bench.ledger import drop_database, libpq, scratch_postgres
from bench.load import cpu_seconds, percentiles, timed
from bench.stack import free_port
from worker.cli import migrate

TARGET_P99_MS = 25.0
TARGET_RATIO = 3.0
SELLERS = 100


# name -> (API parameters, raw SQL on PostgreSQL, raw SQL on SQLite, their arguments).
# The raw queries return the page's ids in the API's order (relevance ranks the first 1,000
# matches, ADR 0007): the database's own share of the work, without the page's other columns,
# the seller's name or the total.
_PG_TEXT = "search_vector @@ plainto_tsquery('english', %(q)s)"
_PG_RANKED = (
    "SELECT id FROM (SELECT id, ts_rank(search_vector, plainto_tsquery('english', %(q)s)) AS r "
    "FROM data_listings WHERE status = 'active' AND {where} LIMIT 1000) c "
    "ORDER BY r DESC, id LIMIT 20"
)
_LITE_RANKED = (
    "SELECT id FROM (SELECT d.id, bm25(listings_fts) AS r FROM listings_fts CROSS JOIN "
    "data_listings d ON d.rowid = listings_fts.rowid WHERE listings_fts MATCH :match AND "
    "d.status = 'active' {where} LIMIT 1000) ORDER BY r, id LIMIT 20"
)
_FILTERS = "category = 'web_search' AND price_units <= 500000 AND quality_score >= 0.5"
QUERIES: dict[str, tuple[dict[str, str], str, str, dict[str, Any]]] = {
    "keyword": (
        {"q": "python asyncio"},
        _PG_RANKED.format(where=_PG_TEXT),
        _LITE_RANKED.format(where=""),
        {"q": "python asyncio", "match": '"python" "asyncio"'},
    ),
    "filtered": (
        {"q": "kubernetes", "category": "web_search", "max_price": "0.5", "min_quality": "0.5"},
        _PG_RANKED.format(where=f"{_FILTERS} AND {_PG_TEXT}"),
        _LITE_RANKED.format(where=f"AND d.{_FILTERS.replace(' AND ', ' AND d.')}"),
        {"q": "kubernetes", "match": '"kubernetes"'},
    ),
    "broad": (
        {"q": "python"},
        _PG_RANKED.format(where=_PG_TEXT),
        _LITE_RANKED.format(where=""),
        {"q": "python", "match": '"python"'},
    ),
    "sorted": (
        {"category": "code_analysis", "sort_by": "price_asc"},
        "SELECT id FROM data_listings WHERE status = 'active' AND category = 'code_analysis' "
        "ORDER BY price_units ASC, id LIMIT 20",
        "SELECT id FROM data_listings WHERE status = 'active' AND category = 'code_analysis' "
        "ORDER BY price_units ASC, id LIMIT 20",
        {},
    ),
    "seller": (
        {"seller_id": "", "sort_by": "freshness"},  # the first seller's id, once seeded
        "SELECT id FROM data_listings WHERE status = 'active' AND seller_id = %(seller)s "
        "ORDER BY freshness_at DESC, id LIMIT 20",
        "SELECT id FROM data_listings WHERE status = 'active' AND seller_id = :seller "
        "ORDER BY freshness_at DESC, id LIMIT 20",
        {},
    ),
}


def _median(values: list[float]) -> str:
    """`median (min-max)` over the runs."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


class _Raw:
    """The raw query on a connection of its own, in the database's own driver."""

    def __init__(self, database: str, url: str) -> None:
        self.database = database
        if database == "postgresql":
            self.pg = psycopg.connect(libpq(url), autocommit=True)
            self.pg.execute("SET enable_seqscan = off")  # as the API does for a text search
        else:
            self.lite = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)

    def call(self, pg_sql: str, lite_sql: str, args: dict[str, Any]) -> Callable[[], object]:
        if self.database == "postgresql":
            return lambda: self.pg.execute(pg_sql, args).fetchall()
        return lambda: self.lite.execute(lite_sql, args).fetchall()

    def close(self) -> None:
        (self.pg if self.database == "postgresql" else self.lite).close()


def _server(url: str, port: int, scratch: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "CONTENT_STORE_PATH": f"{scratch}/content",
        "REST_RATE_LIMIT_ANONYMOUS": "1000000",
    }
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, env=env)


def _one_run(
    client: httpx.Client, base: str, raw: _Raw, requests: int, seller: uuid.UUID, server_pid: int
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, (params, pg_sql, lite_sql, sql_args) in QUERIES.items():
        if "seller_id" in params:
            params = {**params, "seller_id": str(seller)}
            sql_args = {"seller": seller if raw.database == "postgresql" else seller.hex}
        matched = client.get(base, params=params).json()["total"]
        cpu = cpu_seconds(server_pid)
        api: dict[str, float] = percentiles(
            timed(partial(client.get, base, params=params), requests)
        )
        # The API process's CPU per request (its signal write included): load-independent.
        api["cpu_ms"] = round((cpu_seconds(server_pid) - cpu) * 1000 / (requests + 20), 2)
        baseline = percentiles(timed(raw.call(pg_sql, lite_sql, sql_args), requests))
        figures[name] = {"params": params, "matched": matched, "api": api, "raw_sql": baseline}
    # The floor: the same route refused by validation, before any database work.
    refused = {"sort_by": "none"}
    cpu = cpu_seconds(server_pid)
    figures["floor"] = percentiles(timed(partial(client.get, base, params=refused), requests))
    figures["floor"]["cpu_ms"] = round((cpu_seconds(server_pid) - cpu) * 1000 / (requests + 20), 2)
    return figures


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    shapes = {}
    for name in QUERIES:
        api_p99 = [run[name]["api"]["p99_ms"] for run in runs]
        raw_p99 = [run[name]["raw_sql"]["p99_ms"] for run in runs]
        ratios = [a / r for a, r in zip(api_p99, raw_p99, strict=True)]
        p99, ratio = statistics.median(api_p99), statistics.median(ratios)
        # The limit of this path on this machine: the route with nothing inside it (refused by
        # validation) plus the query itself. Where 3x the query is below it, the ratio target
        # is beyond the machine and the issue asks for within 10% of this limit instead.
        limits = [run["floor"]["p99_ms"] + run[name]["raw_sql"]["p99_ms"] for run in runs]
        to_limit = [a / lim for a, lim in zip(api_p99, limits, strict=True)]
        beyond = statistics.median(
            [3 * run[name]["raw_sql"]["p99_ms"] - run["floor"]["p99_ms"] for run in runs]
        )
        shapes[name] = {
            "params": runs[0][name]["params"],
            "matched": runs[0][name]["matched"],
            "api_p50_ms": _median([run[name]["api"]["p50_ms"] for run in runs]),
            "api_p99_ms": _median(api_p99),
            "api_cpu_ms_per_request": _median([run[name]["api"]["cpu_ms"] for run in runs]),
            "raw_p50_ms": _median([run[name]["raw_sql"]["p50_ms"] for run in runs]),
            "raw_p99_ms": _median(raw_p99),
            "p99_ratio_api_to_raw": _median([round(r, 2) for r in ratios]),
            "limit_p99_ms": _median(limits),
            "p99_ratio_to_limit": _median(to_limit),
            "ratio_target_below_the_floor": beyond < 0,
            "pass": p99 <= TARGET_P99_MS and ratio <= TARGET_RATIO,
        }
    shapes["http_floor_422"] = {
        "api_p50_ms": _median([run["floor"]["p50_ms"] for run in runs]),
        "api_p99_ms": _median([run["floor"]["p99_ms"] for run in runs]),
        "api_cpu_ms_per_request": _median([run["floor"]["cpu_ms"] for run in runs]),
    }
    return shapes


def bench(database: str, args: argparse.Namespace) -> dict[str, Any]:
    scratch = tempfile.mkdtemp(prefix="bench-discover-")
    if database == "postgresql":
        url = scratch_postgres("bench_discover")
    else:
        url = f"sqlite+aiosqlite:///{scratch}/agentchains.db"
    port, server, raw = free_port(), None, None
    try:
        migrate(url)
        sellers = seed(url, args.listings)
        server = _server(url, port, scratch)
        base = f"http://127.0.0.1:{port}/api/v1/discover"
        raw = _Raw(database, url)
        with httpx.Client(timeout=10) as client:
            for _ in range(300):
                try:
                    client.get(base)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            cpu, started = cpu_seconds(server.pid), time.perf_counter()
            runs = [
                _one_run(client, base, raw, args.requests, sellers[0], server.pid)
                for _ in range(args.runs)
            ]
            api_cpu = (cpu_seconds(server.pid) - cpu) / (time.perf_counter() - started)
        return {
            "shapes": _summary(runs),
            "api_process_cpu_share": round(api_cpu, 2),
        }
    finally:
        if raw is not None:
            raw.close()
        if server is not None:
            server.terminate()
            server.wait(10)
        if database == "postgresql":
            drop_database(url)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database", nargs="+", choices=("postgresql", "sqlite"), default=["postgresql", "sqlite"]
    )
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = {database: bench(database, args) for database in args.database}
    verdict = all(s.get("pass", True) for r in results.values() for s in r["shapes"].values())
    print(
        json.dumps(
            {
                "benchmark": "discover",
                "listings": args.listings,
                "requests_per_shape_per_run": args.requests,
                "runs": args.runs,
                "target": {"api_p99_ms": f"<= {TARGET_P99_MS}", "p99_ratio_to_raw": "<= 3"},
                "load_average_1_5_15": os.getloadavg(),
                "databases": results,
                "pass": verdict,
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
