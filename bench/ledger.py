"""Ledger throughput on PostgreSQL, next to pgbench's TPC-B-like transaction on the same server.

    .venv/bin/python -m bench.ledger [--transfers 2000] [--concurrency 1 8]

Every movement takes the chain-head lock (appends are serialized so the hash chain cannot fork),
so added concurrency buys little: the figures show the price of that decision (ADR 0004).
Prints one JSON document.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import time
import uuid

import psycopg
from sqlalchemy.engine import make_url

from core.db import create_engine, session_factory, unit_of_work
from core.settings import Settings
from domain import agents, ledger
from domain.wallet import transfers
from worker.cli import migrate

ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _scratch_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


async def _ledger_run(url: str, transfers_total: int, concurrency: int) -> dict[str, float]:
    settings = Settings(database_url=url, environment="development")
    engine = create_engine(url, pool_size=concurrency + 2)
    sessions = session_factory(engine)
    ids = []
    for _ in range(concurrency * 2):
        async with unit_of_work(sessions) as session:
            agent = await agents.register(
                session, f"bench-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 10**9
            )
            ids.append(agent.id)
    latencies: list[float] = []

    async def lane(lane_no: int, count: int) -> None:
        sender, receiver = ids[2 * lane_no], ids[2 * lane_no + 1]
        for _ in range(count):
            started = time.perf_counter()
            async with unit_of_work(sessions) as session:
                await transfers.transfer(
                    session,
                    settings,
                    sender_id=sender,
                    receiver_id=str(receiver),
                    amount=1_000,
                    memo="",
                    key=f"bench:{uuid.uuid4()}",
                )
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    per_lane = transfers_total // concurrency
    await asyncio.gather(*(lane(i, per_lane) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    async with unit_of_work(sessions) as session:
        assert (await ledger.verify(session)).valid
    await engine.dispose()
    latencies.sort()
    return {
        "concurrency": concurrency,
        "transfers": per_lane * concurrency,
        "transfers_per_s": round(per_lane * concurrency / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def _pgbench(concurrency: int, seconds: int) -> float:
    url = _scratch_database("bench_pgbench")
    target = _libpq(url)
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", "1", target], check=True, capture_output=True)
        out = subprocess.run(
            [
                "pgbench",
                "-c",
                str(concurrency),
                "-j",
                str(min(concurrency, 2)),
                "-T",
                str(seconds),
                target,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        match = re.search(r"tps = ([\d.]+)", out)
        return float(match.group(1)) if match else float("nan")
    finally:
        _drop(url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    results = []
    for concurrency in args.concurrency:
        url = _scratch_database("bench_ledger")
        try:
            migrate(url)
            run = asyncio.run(_ledger_run(url, args.transfers, concurrency))
        finally:
            _drop(url)
        run["pgbench_tpcb_tps"] = _pgbench(concurrency, 10)
        run["ratio_to_pgbench"] = round(run["transfers_per_s"] / run["pgbench_tpcb_tps"], 3)
        results.append(run)
    print(json.dumps({"benchmark": "ledger_transfers_postgresql", "runs": results}, indent=2))


if __name__ == "__main__":
    main()
