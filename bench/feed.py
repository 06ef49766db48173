"""Events reaching people: commit-to-receipt latency of the live feed, and (to come) webhooks.

    .venv/bin/python -m bench.feed [--databases postgresql sqlite] [--clients 1000]
        [--events 30] [--rate 10] [--runs 3]

**WebSocket half.** Two API processes (`uvicorn api.app:create_app --factory`, as production
runs them) on one scratch database, `--clients` WebSocket clients split between them, each an
agent with its own token. A writer commits `--events` public events to the outbox, one per
transaction, `--rate` a second; every client must receive every event, once. Latency is from
the moment the writer's commit returns to the moment a client has the message; p99 is over
every (event, client) pair. Targets: p99 <= 100 ms on PostgreSQL, <= 250 ms on SQLite.

Baseline, measured in the same invocation with the same clients: two processes serving the
same fan-out (`api.feed.Feed`, its per-client queues and writers) of in-memory events with no
database, no outbox and no wake-up: each event is stamped in the server and published at once.
The ratio says what following the outbox costs over the fan-out itself.

Each figure is the median of `--runs` runs (runs of the feed and the baseline alternate), with
the spread (min-max). The clients run in this process on the `websockets` sans-I/O protocol (no
compression, nothing parsed while receiving), and share the 2 cores with the servers and the
database, as the baseline's do.

**Webhook half** (>= 100 deliveries/s to 10 local consumers, p99 commit-to-receipt <= 2 s):
`bench/webhooks.py` (also on its own: `python -m bench.webhooks`); `--halves` picks.
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api.feed import Feed, Viewer
from bench import webhooks as webhook_bench
from bench.feed_clients import Receipts, connect
from bench.ledger import drop_database, scratch_postgres
from bench.stack import free_port, wait_for_port
from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.process import exit_hard
from core.security import TokenKind, create_token
from domain import agents, events
from domain.events import Event, EventType
from worker.cli import migrate

SECRET = "bench-secret-" + "z" * 32
TARGET_P99_MS = {"postgresql": 100.0, "sqlite": 250.0}
RUN_TIMEOUT_SECONDS = 120

Sessions = async_sessionmaker[AsyncSession]


# --- The baseline: the same fan-out with no database ----------------------------------------


def _baseline_app() -> Starlette:
    """`Feed` fed by hand: POST /publish stamps an in-memory event and publishes it now."""
    feed = Feed(sessions=None, queue_size=1000, retention_days=7)  # type: ignore[arg-type]
    sequence = 0

    async def publish(request: Request) -> Response:
        nonlocal sequence
        sequence += 1
        data = {**request.query_params, "sent": time.time(), "title": "bench"}
        feed.publish(
            Event(
                id=uuid.uuid4(),
                sequence=sequence,
                txid=0,
                type=EventType.LISTING_CREATED,
                audience=[],
                payload=data,
                created_at=utcnow(),
            )
        )
        return Response(status_code=204)

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await feed.stream(websocket, Viewer(TokenKind.AGENT, "bench"), None, None, None)

    return Starlette(
        routes=[Route("/publish", publish, methods=["POST"]), WebSocketRoute("/ws/feed", stream)]
    )


def _serve_baseline(port: int) -> None:
    uvicorn.run(_baseline_app(), host="127.0.0.1", port=port, log_level="warning")


# --- Processes -------------------------------------------------------------------------------


@contextlib.contextmanager
def _servers(url: str, scratch: str) -> Iterator[tuple[list[int], list[int]]]:
    """Two API processes and two baseline processes: (API ports, baseline ports)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "JWT_SECRET_KEY": SECRET,
        "LOG_LEVEL": "WARNING",
        "CONTENT_STORE_PATH": f"{scratch}/content",
        "CDN_WARM_PATH": f"{scratch}/warm",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # the feed needs no Temporal
    }
    api_ports, baseline_ports = [free_port(), free_port()], [free_port(), free_port()]
    uvicorn_api = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    quiet = ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    commands = [[*uvicorn_api, *quiet, "--port", str(port)] for port in api_ports]
    commands += [
        [sys.executable, "-m", "bench.feed", "--baseline-server", str(p)] for p in baseline_ports
    ]
    processes = [subprocess.Popen(c, env=env, start_new_session=True) for c in commands]
    try:
        for port, process in zip(api_ports + baseline_ports, processes, strict=True):
            wait_for_port(port, process)
        yield api_ports, baseline_ports
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


# --- Clients ---------------------------------------------------------------------------------


async def _agent_tokens(sessions: Sessions, count: int) -> list[str]:
    tokens = []
    async with unit_of_work(sessions) as session:
        for _ in range(count):
            name = f"bench-feed-{uuid.uuid4().hex[:10]}"
            agent = await agents.register(session, name, "buyer", agents.AgentProfile(), 0)
            tokens.append(
                create_token(
                    TokenKind.AGENT, agent.id, secret=SECRET, algorithm="HS256", expire_hours=2
                )
            )
    return tokens


# --- Runs ------------------------------------------------------------------------------------


def _percentiles(latencies_ms: list[float]) -> dict[str, float]:
    ordered = sorted(latencies_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[max(int(len(ordered) * 0.99) - 1, 0)], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def _wait(sink: Receipts, label: str) -> None:
    try:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            await sink.done.wait()
    except TimeoutError:
        raise RuntimeError(f"{label}: {len(sink.got)} of {sink.expected} receipts") from None


def _checked(sink: Receipts, run: str, clients: int, count: int) -> list[dict[str, Any]]:
    """This run's messages, each event received exactly once by each client."""
    parsed = [(at, json.loads(raw)) for at, raw in sink.got]
    mine = [(at, m["data"]) for at, m in parsed if m["data"].get("run") == run]
    per_event: dict[str, int] = {}
    for _, data in mine:
        per_event[data["n"]] = per_event.get(data["n"], 0) + 1
    if len(per_event) != count or set(per_event.values()) != {clients}:
        raise RuntimeError(f"run {run}: receipts per event {sorted(per_event.values())[:5]}…")
    return [{"at": at, **data} for at, data in mine]


async def _feed_run(
    sessions: Sessions, sink: Receipts, clients: int, count: int, rate: float
) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    sink.start(clients * count)
    committed: dict[str, float] = {}
    for n in range(count):
        async with unit_of_work(sessions) as session:
            events.emit(session, EventType.LISTING_CREATED, {"run": run, "n": str(n)})
        committed[str(n)] = time.time()
        await asyncio.sleep(1 / rate)
    await _wait(sink, "feed")
    received = _checked(sink, run, clients, count)
    return _percentiles([(r["at"] - committed[r["n"]]) * 1000 for r in received])


async def _baseline_run(
    ports: list[int], sink: Receipts, clients: int, count: int, rate: float
) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    sink.start(clients * count)
    async with httpx.AsyncClient() as http:
        for n in range(count):
            await asyncio.gather(
                *(
                    http.post(f"http://127.0.0.1:{p}/publish", params={"run": run, "n": str(n)})
                    for p in ports
                )
            )
            await asyncio.sleep(1 / rate)
    await _wait(sink, "baseline")
    received = _checked(sink, run, clients, count)
    return _percentiles([(r["at"] - r["sent"]) * 1000 for r in received])


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": runs}
    for key in ("p50_ms", "p99_ms"):
        values = [r[key] for r in runs]
        out[key] = statistics.median(values)
        out[f"{key}_spread"] = [min(values), max(values)]
    return out


async def websocket_half(database: str, args: argparse.Namespace) -> dict[str, Any]:
    scratch = tempfile.mkdtemp(prefix="bench-feed-")
    url = (
        scratch_postgres("bench_feed")
        if database == "postgresql"
        else f"sqlite+aiosqlite:///{scratch}/feed.db"
    )
    try:
        migrate(url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        tokens = await _agent_tokens(sessions, args.clients)
        with _servers(url, scratch) as (api_ports, baseline_ports):
            feed_sink, baseline_sink = Receipts(), Receipts()
            feed_urls = [
                f"ws://127.0.0.1:{api_ports[i % 2]}/ws/feed?token={t}" for i, t in enumerate(tokens)
            ]
            base_urls = [
                f"ws://127.0.0.1:{baseline_ports[i % 2]}/ws/feed" for i in range(args.clients)
            ]
            feed_clients = await connect(feed_urls, feed_sink)
            base_clients = await connect(base_urls, baseline_sink)
            await asyncio.sleep(1)  # every client subscribed
            feed_runs, baseline_runs = [], []
            for _ in range(args.runs):
                feed_runs.append(
                    await _feed_run(sessions, feed_sink, args.clients, args.events, args.rate)
                )
                baseline_runs.append(
                    await _baseline_run(
                        baseline_ports, baseline_sink, args.clients, args.events, args.rate
                    )
                )
            for client in feed_clients + base_clients:
                client.close()
        await engine.dispose()
    finally:
        if database == "postgresql":
            drop_database(url)
    feed, baseline = _summary(feed_runs), _summary(baseline_runs)
    target = TARGET_P99_MS[database]
    return {
        "clients": args.clients,
        "api_processes": 2,
        "events_per_run": args.events,
        "events_per_s": args.rate,
        "feed": feed,
        "baseline_fan_out_only": baseline,
        "target_p99_ms": target,
        "pass": feed["p99_ms"] <= target,
        "p99_vs_baseline": round(feed["p99_ms"] / baseline["p99_ms"], 2),
    }


# --- The webhook half ------------------------------------------------------------------------


async def webhooks(args: argparse.Namespace) -> dict[str, Any] | None:
    """Deliveries/s to 10 local consumers (>= 100/s sustained) and p99 commit-to-receipt
    (<= 2 s), beside a baseline measured in the same run: `bench/webhooks.py`, with its
    defaults and this run's `--runs`."""
    if "webhooks" not in args.halves:
        return None
    options = webhook_bench.options(["--runs", str(args.runs)])
    return await asyncio.to_thread(webhook_bench.deliveries, options)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"websocket": {}}
    for database in args.databases if "websocket" in args.halves else ():
        report["websocket"][database] = await websocket_half(database, args)
    report["webhooks"] = await webhooks(args)
    return report


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feed")
    parser.add_argument("--halves", nargs="+", default=["websocket", "webhooks"])
    parser.add_argument("--databases", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        _serve_baseline(args.baseline_server)
        return 0
    _raise_open_files_limit()
    print(json.dumps(asyncio.run(main(args)), indent=2))
    return 0


if __name__ == "__main__":
    exit_hard(cli)
