"""Ledger throughput on PostgreSQL, next to pgbench's TPC-B-like transaction on the same server.

    .venv/bin/python -m bench.ledger [--runs 3] [--transfers 2000] [--concurrency 1 8]
                                     [--processes 2]

Each run measures, back to back on fresh databases: transfers from `--concurrency` clients, sent
as the API sends them (`domain.wallet.transfers.Transfers`: a process's transfers are written in
groups, one transaction each, ADR 0034), a unit of work with nothing in it (`SELECT 1` and
commit: the floor of anything this client does through the same engine), and pgbench's
TPC-B-like transaction (3 updates + 1 insert) with as many clients. The clients are spread over
`--processes` processes as pgbench spreads them over `-j 2` threads. The machine's 1-minute load
average is read before and after each run. Where PostgreSQL runs on this machine, each figure
comes with the CPU it cost: the client processes' and the server's (its processes, exited
backends included) a transfer, and the server's a pgbench transaction.
Prints one JSON document: per concurrency the median of the runs and their spread, the ratio to
pgbench, its target and pass/fail.
"""

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import queue
import re
import statistics
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import uvloop
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import create_engine, session_factory, unit_of_work
from core.settings import Settings
from domain import agents, ledger
from domain.wallet import transfers
from worker.cli import migrate

ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGETS = {1: 0.3, 8: 0.5}  # transfers/s ÷ pgbench tps, same clients (issue "9 · Speed")
PGBENCH_SECONDS = 8
REAPED_S = 0.5


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def scratch_postgres(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


Pair = tuple[uuid.UUID, str]


async def _clients(
    url: str, kind: str, pairs: list[Pair], clients: list[int], count: int, start: Any
) -> tuple[float, float, list[float], float]:
    """`count` operations from each of these clients, after all processes are ready: transfers
    sent as the API sends them (`Transfers`: written in groups, on a connection of its own), or
    the empty unit of work. Also the CPU seconds this process spent on them."""
    engine = create_engine(url, pool_size=len(clients) + 2)
    sessions = session_factory(engine)
    desk = transfers.Transfers(Settings(database_url=url, environment="development"))
    latencies: list[float] = []

    unused_on_postgresql = sessions()  # the caller's unit of work, where SQLite writes

    async def transfer(client: int) -> None:
        sender, receiver = pairs[client]
        one = transfers.Transfer(sender, receiver, 1_000, "", f"bench:{uuid.uuid4()}")
        await desk.send(one, unused_on_postgresql)

    async def empty(_client: int) -> None:
        async with unit_of_work(sessions) as session:
            await session.execute(text("SELECT 1"))

    step = transfer if kind == "transfer" else empty

    async def client(number: int, times: int) -> None:
        for _ in range(times):
            started = time.perf_counter()
            await step(number)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(c, 10) for c in clients))  # warm the pool
    latencies.clear()
    await asyncio.to_thread(start.wait)
    began, cpu = time.time(), time.process_time()
    await asyncio.gather(*(client(c, count) for c in clients))
    ended, cpu = time.time(), time.process_time() - cpu
    await desk.close()
    await unused_on_postgresql.close()
    await engine.dispose()
    return began, ended, latencies, cpu


def _client_process(
    url: str, kind: str, pairs: list[Pair], clients: list[int], count: int, start: Any, out: Any
) -> None:
    # On the event loop uvicorn serves the API on (uvloop, from uvicorn[standard]).
    out.put(uvloop.run(_clients(url, kind, pairs, clients, count, start)))


def _drive(url: str, kind: str, pairs: list[Pair], total: int, processes: int) -> dict[str, float]:
    """`total` units of work from len(pairs) clients spread over `processes` processes (as
    pgbench spreads its clients over -j threads)."""
    concurrency = len(pairs)
    processes = min(processes, concurrency)
    count = total // concurrency
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(processes + 1), context.Queue()  # and this process
    workers = [
        context.Process(
            target=_client_process,
            args=(url, kind, pairs, list(range(p, concurrency, processes)), count, start, out),
        )
        for p in range(processes)
    ]
    for worker in workers:
        worker.start()
    _ready(start, workers)
    server_cpu = _server_cpu()
    results: list[tuple[float, float, list[float], float]] = []
    while len(results) < len(workers):
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            _stop_if_failed(start, workers)
    for worker in workers:
        worker.join()
    server_cpu = _since(server_cpu)
    elapsed = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    done = count * concurrency
    return {
        "per_s": round(done / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "client_cpu_ms": round(sum(r[3] for r in results) / done * 1000, 3),
        "server_cpu_ms": round(server_cpu / done * 1000, 3),
    }


def _ready(start: Any, workers: list[Any]) -> None:
    """Past the barrier with every client process, unless one of them fails first."""
    waiting = threading.Thread(target=start.wait, daemon=True)
    waiting.start()
    while waiting.is_alive():
        waiting.join(timeout=1)
        _stop_if_failed(start, workers)


def _stop_if_failed(start: Any, workers: list[Any]) -> None:
    """If a client process has failed: none waits at the barrier for it, all stop, and the run
    fails."""
    if any(worker.exitcode not in (None, 0) for worker in workers):
        start.abort()
        for worker in workers:
            worker.terminate()
        raise RuntimeError("a client process failed")


def _server_cpu() -> float:
    """CPU seconds this machine's PostgreSQL has used so far: its processes, and the backends that
    have exited (counted in the postmaster's children's time). NaN if it runs elsewhere."""
    ticks = os.sysconf("SC_CLK_TCK")
    processes = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:  # ended while listed
            continue
        if line[line.index("(") + 1 : line.rindex(")")] == "postgres":
            processes[stat.parent.name] = line[line.rindex(")") + 2 :].split()
    if not processes:
        return math.nan
    used = 0
    for fields in processes.values():
        used += int(fields[11]) + int(fields[12])  # user, system
        if fields[1] not in processes:  # the postmaster: its reaped backends too
            used += int(fields[13]) + int(fields[14])
    return used / ticks


def _since(cpu: float) -> float:
    """The server's CPU seconds since `cpu`, read once its clients have disconnected: an exited
    backend's time shows nowhere until the postmaster has reaped it."""
    time.sleep(REAPED_S)
    return _server_cpu() - cpu


async def _open_pairs(url: str, concurrency: int) -> list[Pair]:
    engine = create_engine(url)
    pairs = []
    for _ in range(concurrency):
        async with unit_of_work(session_factory(engine)) as session:
            sender, receiver = [
                await agents.register(
                    session, f"bench-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 10**9
                )
                for _ in range(2)
            ]
            pairs.append((sender.id, str(receiver.id)))
    await engine.dispose()
    return pairs


async def _books_hold(url: str) -> None:
    engine = create_engine(url)
    async with unit_of_work(session_factory(engine)) as session:
        assert (await ledger.verify(session)).valid
        assert (await ledger.supply(session)).balanced
    await engine.dispose()


def _pgbench(concurrency: int) -> tuple[float, float]:
    """Its transactions a second, and the server's CPU milliseconds a transaction."""
    url = scratch_postgres("bench_pgbench")
    target = libpq(url)
    try:
        subprocess.run(["pgbench", "-i", "-q", "-s", "1", target], check=True, capture_output=True)
        options = ["-c", str(concurrency), "-j", str(min(concurrency, 2))]
        server_cpu = _server_cpu()
        out = subprocess.run(
            ["pgbench", *options, "-T", str(PGBENCH_SECONDS), target],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        server_cpu = _since(server_cpu)
        match = re.search(r"tps = ([\d.]+)", out)
        tps = float(match.group(1)) if match else math.nan
        return tps, round(server_cpu / (tps * PGBENCH_SECONDS) * 1000, 3)
    finally:
        drop_database(url)


def _one_run(total: int, concurrency: int, processes: int) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    url = scratch_postgres("bench_ledger")
    try:
        migrate(url)
        pairs = asyncio.run(_open_pairs(url, concurrency))
        moved = _drive(url, "transfer", pairs, total, processes)
        asyncio.run(_books_hold(url))
        floor = _drive(url, "empty", pairs, total, processes)
    finally:
        drop_database(url)
    tps, pgbench_server_cpu = _pgbench(concurrency)
    tps = round(tps, 1)
    return {
        "transfers_per_s": moved["per_s"],
        "p50_ms": moved["p50_ms"],
        "p99_ms": moved["p99_ms"],
        "client_cpu_ms_per_transfer": moved["client_cpu_ms"],
        "server_cpu_ms_per_transfer": moved["server_cpu_ms"],
        "empty_tx_per_s": floor["per_s"],
        "pgbench_tpcb_tps": tps,
        "pgbench_server_cpu_ms_per_tx": pgbench_server_cpu,
        "ratio_to_pgbench": round(moved["per_s"] / tps, 3),
        "ratio_to_empty_tx": round(moved["per_s"] / floor["per_s"], 3),
        "empty_tx_ratio_to_pgbench": round(floor["per_s"] / tps, 3),
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


def _summary(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "spread": [min(values), max(values)]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--processes", type=int, default=2, help="client processes (pgbench -j)")
    args = parser.parse_args()
    samples: dict[int, list[dict[str, float]]] = {c: [] for c in args.concurrency}
    for _ in range(args.runs):
        for concurrency in args.concurrency:
            samples[concurrency].append(_one_run(args.transfers, concurrency, args.processes))
    rows = []
    for concurrency, runs in samples.items():
        row: dict[str, Any] = {
            "clients": concurrency,
            "processes": min(concurrency, args.processes),
        }
        for figure in runs[0]:
            row[figure] = _summary([run[figure] for run in runs])
        target = TARGETS.get(concurrency)
        if target is not None:
            row["target_ratio_to_pgbench"] = target
            row["pass"] = row["ratio_to_pgbench"]["median"] >= target
        rows.append(row)
    print(
        json.dumps(
            {
                "benchmark": "ledger_transfers_postgresql",
                "runs": args.runs,
                "transfers_per_run": args.transfers,
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
