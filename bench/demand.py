"""Demand aggregation on PostgreSQL: one run of DemandAggregationWorkflow (a real Temporal dev
server and this code's worker) over many stored signals with 50,000 new since the last run, and
`/analytics/trending` through a real API server.

    .venv/bin/python -m bench.demand [--stored 1000000] [--baseline-stored 100000] [--new 50000]

Stored signals lie in the last 48 hours, half of them inside the 24 h window, and were folded
in by earlier runs; each measured run then reads the new ones. The same run over a tenth of the
stored signals is the baseline: a run's cost should follow the new signals (ratio near 1), not
the stored ones. Targets: a run <= 10 s; trending p99 <= 25 ms. Median of 3 runs, with spread.
Prints one JSON document.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.corpus import VOCABULARY, ZIPF_WEIGHTS
from bench.ledger import drop_database, libpq, scratch_postgres
from bench.load import percentiles, timed
from bench.stack import free_port
from core.db import create_engine, session_factory
from core.process import flush_and_exit
from core.settings import Settings
from core.temporal import SEARCH_ATTRIBUTES, binary
from domain.content.store import open_store
from worker.cli import migrate
from worker.main import build_workers
from worker.registry import Dependencies
from workflows.contracts.demand import DemandReport, DemandTerms
from workflows.demand import DemandAggregationWorkflow

RUN_TARGET_S = 10.0
TRENDING_P99_TARGET_MS = 25.0
PATTERNS = 50_000
AGENTS, CLIENTS = 20_000, 5_000
CATEGORIES = ["web_search", "code_analysis", "document_summary", "api_response", "computation"]


def _patterns(rng: random.Random) -> list[tuple[str, str]]:
    found: set[str] = set()
    while len(found) < PATTERNS:
        found.add(" ".join(sorted(set(rng.choices(VOCABULARY, ZIPF_WEIGHTS, k=rng.randint(1, 3))))))
    return [(p, rng.choice(CATEGORIES)) for p in sorted(found)]


def _copy(url: str, count: int, start: datetime, end: datetime, seed: int) -> None:
    """`count` signals spread over [start, end): Zipf-popular patterns, requesters from a pool
    of agents and anonymous clients; a third found something, some give a max price."""
    rng = random.Random(seed)
    patterns = _patterns(random.Random(1))
    weights = [1 / (i + 1) for i in range(len(patterns))]
    chosen = rng.choices(patterns, weights, k=count)
    span = (end - start).total_seconds()
    with psycopg.connect(libpq(url)) as conn:
        with conn.cursor().copy(
            "COPY search_signals (id, query, pattern, category, requester, matched_count, "
            "led_to_purchase, max_price_units, source, created_at) FROM STDIN"
        ) as copy:
            for pattern, category in chosen:
                who = rng.random()
                requester = (
                    f"agent:{rng.randrange(AGENTS)}"
                    if who < 0.8
                    else f"client:10.0.{rng.randrange(CLIENTS)}"
                )
                copy.write_row(
                    (
                        uuid.uuid4(),
                        pattern,
                        pattern,
                        category,
                        requester,
                        rng.choice((0, 0, 3)),
                        False,
                        rng.choice((None, None, rng.randint(1_000, 50_000))),
                        "discover",
                        start + timedelta(seconds=rng.random() * span),
                    )
                )
        conn.execute("ANALYZE search_signals")


async def _run(client: Client, queue: str) -> tuple[float, DemandReport]:
    started = time.perf_counter()
    report = await client.execute_workflow(
        DemandAggregationWorkflow.run,
        DemandTerms(settle_seconds=0),
        id=f"demand-bench-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )
    return time.perf_counter() - started, report


async def _scenario(env: WorkflowEnvironment, stored: int, new: int, runs: int) -> dict[str, Any]:
    """Stored signals folded in by an earlier run, then `runs` times: `new` signals since the
    last run, one timed run."""
    url = scratch_postgres("bench_demand")
    migrate(url)
    settings = Settings(
        database_url=url,
        environment="development",
        temporal_task_queue=f"bench-{uuid.uuid4().hex[:6]}",
    )
    engine = create_engine(url)
    sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
    store = open_store(f"/tmp/bench-demand-{uuid.uuid4().hex[:6]}")
    workers = build_workers(env.client, Dependencies(settings, sessions, store.get))
    try:
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            now = datetime.now(UTC)
            _copy(url, stored, now - timedelta(hours=48), now - timedelta(seconds=1), seed=stored)
            seconds, first = await _run(env.client, settings.temporal_task_queue)
            timings, reports = [], []
            for r in range(runs):
                since = datetime.now(UTC)
                await asyncio.sleep(0.01)
                _copy(url, new, since, datetime.now(UTC), seed=r + 100)
                taken, report = await _run(env.client, settings.temporal_task_queue)
                timings.append(taken)
                reports.append(report.model_dump(mode="json"))
            trending = _trending(url) if stored >= 1_000_000 else None
    finally:
        await engine.dispose()
        drop_database(url)
    return {
        "stored": stored,
        "new_per_run": new,
        "first_run": {"seconds": round(seconds, 2), "signals_folded": first.signals},
        "run_s": round(statistics.median(timings), 2),
        "run_s_spread": [round(min(timings), 2), round(max(timings), 2)],
        "reports": reports,
        **({"trending": trending} if trending else {}),
    }


@contextlib.contextmanager
def _api(url: str) -> Iterator[str]:
    port = free_port()
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
    try:
        yield f"http://127.0.0.1:{port}/api/v1"
    finally:
        server.terminate()
        server.wait(10)


def _trending(url: str, requests: int = 300) -> dict[str, Any]:
    """`/analytics/trending` over the demand of the stored signals, next to its raw SQL."""
    with _api(url) as base, httpx.Client(timeout=10) as client:
        for _ in range(100):
            try:
                client.get(f"{base}/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        rounds = []
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            patterns = conn.execute("SELECT count(*) FROM demand").fetchone()
            sql = (
                "SELECT * FROM demand WHERE searches > 0 "
                "ORDER BY velocity DESC, requesters DESC, pattern DESC LIMIT 20"
            )
            for _ in range(3):
                api = percentiles(timed(lambda: client.get(f"{base}/analytics/trending"), requests))
                raw = percentiles(timed(lambda: conn.execute(sql).fetchall(), requests))
                rounds.append((api, raw))
    p99 = [a["p99_ms"] for a, _ in rounds]
    return {
        "patterns": patterns[0] if patterns else 0,
        "requests_per_round": requests,
        "api_p50_ms": statistics.median(a["p50_ms"] for a, _ in rounds),
        "api_p99_ms": statistics.median(p99),
        "api_p99_spread": [min(p99), max(p99)],
        "raw_sql_p99_ms": statistics.median(r["p99_ms"] for _, r in rounds),
        "target_p99_ms": TRENDING_P99_TARGET_MS,
        "pass": statistics.median(p99) <= TRENDING_P99_TARGET_MS,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--baseline-stored", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
    )
    try:
        baseline = await _scenario(env, args.baseline_stored, args.new, args.runs)
        measured = await _scenario(env, args.stored, args.new, args.runs)
    finally:
        await env.shutdown()
    print(
        json.dumps(
            {
                "benchmark": "demand_aggregation_postgresql",
                "target_run_s": RUN_TARGET_S,
                "run_s": measured["run_s"],
                "pass": measured["run_s"] <= RUN_TARGET_S,
                "ratio_to_baseline": round(measured["run_s"] / baseline["run_s"], 2),
                "measured": measured,
                "baseline": baseline,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
    flush_and_exit(0)
