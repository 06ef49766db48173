"""Events reaching people, the webhook half of `bench.feed`: webhook deliveries.

    .venv/bin/python -m bench.webhooks [--rate 12] [--seconds 20] [--consumers 10]
        [--runs 3] [--per-event]

Webhooks: the stack as `make run` starts it (a Temporal dev server on a file, a scratch
PostgreSQL database, `python -m worker`) and CONSUMERS local consumers (HTTP on loopback, each
verifying every signature) in this process. One webhook endpoint per consumer subscribes to
`listing_created`; events are committed to the outbox at `--rate` per second for `--seconds`,
so each event is one delivery per consumer. Measured per run: deliveries/s from the first
commit to the last receipt, and commit-to-receipt latency (p50/p99). Target: >= 100
deliveries/s sustained, p99 <= 2 s. Baseline, in the same run: the same signed bodies POSTed to
the same consumers by a plain HTTP client (no database, no Temporal), as fast as it can.
Also per run: the CPU the worker and the Temporal server spent per delivery, and where a
delivery's time goes (from the rows). `--per-event` then measures, once, the alternative design
(ADR 0023): one workflow per delivery (`webhook:{endpoint}:{event}`, one activity that signs and
POSTs), started at the same rate on the same Temporal server, served by this module as a
second worker process.
Prints one JSON document: the median of the runs, with their spread.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import httpx
    from sqlalchemy import select

    from bench import per_event
    from bench.consumers import Consumer, serve
    from bench.ledger import drop_database, scratch_postgres
    from bench.stack import free_port, wait_for_port
    from bench.stack import stop as _stop
    from core import signatures
    from core.db import create_engine, session_factory, unit_of_work
    from core.process import exit_hard
    from core.settings import Settings
    from core.temporal import binary, connect, dev_server_flags
    from core.vault import vault_of
    from domain import agents, events, webhooks
    from domain.webhooks import guard
    from models.events import Event
    from models.webhooks import WebhookDelivery
    from worker.cli import migrate
    from workflows.contracts.webhooks import EndpointKind

QUEUE = "bench-webhooks"
TARGET_PER_S, TARGET_P99_S = 100.0, 2.0

# --- The stack -------------------------------------------------------------------------------


def _start_stack(
    url: str, scratch: str, per_event: bool
) -> tuple[list[subprocess.Popen[bytes]], str]:
    temporal_port = free_port()
    temporal = f"127.0.0.1:{temporal_port}"
    server = [binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--headless"]
    server += ["--port", str(temporal_port), "--log-level", "error"]
    server += ["--db-filename", f"{scratch}/temporal.db", *dev_server_flags()]
    env = {
        **os.environ,
        "ENVIRONMENT": "development",
        "WORKER_METRICS_PORT": "0",
        "DATABASE_URL": url,
        "DB_POOL_SIZE": "20",
        "LOG_LEVEL": "WARNING",
        "CONTENT_STORE_PATH": f"{scratch}/content",
        "TEMPORAL_ADDRESS": temporal,
        "TEMPORAL_TASK_QUEUE": QUEUE,
        "WEBHOOK_ALLOWLIST": "127.0.0.1/32",
        "WORKER_SHUTDOWN_TIMEOUT_SECONDS": "2",
    }
    processes = [subprocess.Popen(server, stdout=subprocess.DEVNULL, start_new_session=True)]
    wait_for_port(temporal_port, processes[0])
    commands = [[sys.executable, "-m", "worker"]]
    if per_event:
        commands.append([sys.executable, "-m", "bench.per_event", temporal])
    for command in commands:  # the SDK's own log lines (Rust core) go to stdout: not ours
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
        )
    return processes, temporal


def _stop_in_turn(processes: list[subprocess.Popen[bytes]]) -> None:
    """Workers first, each finished before the next stops, Temporal last."""
    for process in reversed(processes):
        _stop([process])


# --- Load ------------------------------------------------------------------------------------

Emit = Callable[[int], Awaitable[tuple[str, float]]]  # event number -> (event id, sent at)


async def _offer(emit: Emit, rate: float, seconds: float) -> dict[str, float]:
    """Emit `rate` events per second for `seconds`, each at its planned moment."""
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        event_id, at = await emit(n)
        sent[event_id] = at
    return sent


async def _received(consumers: list[Consumer], sent: dict[str, float], within: float) -> None:
    deadline = time.monotonic() + within
    while any(len(c.received.keys() & sent.keys()) < len(sent) for c in consumers):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def _figures(consumers: list[Consumer], sent: dict[str, float]) -> dict[str, Any]:
    latencies = sorted(
        c.received[event] - at
        for c in consumers
        for event, at in sent.items()
        if event in c.received
    )
    arrivals = [c.received[e] for c in consumers for e in sent if e in c.received]
    span = max(arrivals) - min(sent.values()) if arrivals else float("inf")
    expected = len(sent) * len(consumers)
    return {
        "deliveries": len(latencies),
        "missing": expected - len(latencies),
        "per_s": round(len(latencies) / span, 1),
        "p50_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000)
        if latencies
        else None,
        "invalid_signatures": sum(c.invalid for c in consumers),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_meter(**pids: int) -> Callable[[int], dict[str, float]]:
    """CPU each process uses from now on, per delivery: call the result with the count."""
    before = {name: _cpu_seconds(pid) for name, pid in pids.items()}

    def per_delivery(deliveries: int) -> dict[str, float]:
        return {
            name: round((_cpu_seconds(pid) - before[name]) * 1000 / max(deliveries, 1), 2)
            for name, pid in pids.items()
        }

    return per_delivery


def _envelope(n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "listing_created",
        "timestamp": "2026-11-30T00:00:00+00:00",
        "data": {"listing_id": str(uuid.uuid4()), "title": f"Bench {n}", "price_usdc": "0.005000"},
    }


async def _outbox_emitter(sessions: Any) -> Emit:
    async def emit(n: int) -> tuple[str, float]:
        payload = {"listing_id": str(uuid.uuid4()), "title": f"Bench {n}", "price_units": 5000}
        async with unit_of_work(sessions) as session:
            event = events.emit(session, events.EventType.LISTING_CREATED, payload)
        return str(event.id), time.time()

    return emit


async def _profile(sessions: Any, sent: dict[str, float]) -> dict[str, Any]:
    """From the rows: event written -> delivery queued (the dispatcher), queued -> recorded as
    delivered (the endpoint's workflow, the POST included)."""
    ids = [uuid.UUID(event_id) for event_id in sent]
    async with unit_of_work(sessions) as session:
        rows = (
            await session.execute(
                select(Event.created_at, WebhookDelivery.created_at, WebhookDelivery.delivered_at)
                .join(Event, Event.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.event_id.in_(ids))
            )
        ).all()
    queued = sorted((q - e).total_seconds() for e, q, _ in rows)
    delivered = sorted((d - q).total_seconds() for _, q, d in rows if d is not None)

    def shape(values: list[float]) -> dict[str, float]:
        p99 = values[max(int(len(values) * 0.99) - 1, 0)]
        return {"p50_ms": round(statistics.median(values) * 1000), "p99_ms": round(p99 * 1000)}

    return {"written_to_queued": shape(queued), "queued_to_delivered": shape(delivered)}


async def _baseline(consumers: list[Consumer], urls: list[str], count: int) -> dict[str, Any]:
    """The same consumers, POSTed signed bodies by one plain client, one lane per consumer."""
    bodies = [_envelope(n) for n in range(count)]

    async def lane(consumer: Consumer, url: str, client: httpx.AsyncClient) -> None:
        for document in bodies:
            body = json.dumps(document, separators=(",", ":")).encode()
            headers = signatures.headers([consumer.secret], document["id"], int(time.time()), body)
            await client.post(url, content=body, headers=headers)

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=len(urls))) as client:
        started = time.perf_counter()
        await asyncio.gather(*(lane(c, u, client) for c, u in zip(consumers, urls, strict=True)))
        elapsed = time.perf_counter() - started
    return {"deliveries": count * len(urls), "per_s": round(count * len(urls) / elapsed, 1)}


async def _run(args: argparse.Namespace, url: str, scratch: str) -> dict[str, Any]:
    processes, address = _start_stack(url, scratch, args.per_event)
    engine = create_engine(url, pool_size=10)
    sessions = session_factory(engine)
    try:
        settings = Settings(
            database_url=url, webhook_allowlist="127.0.0.1/32", environment="development"
        )
        consumers = [Consumer() for _ in range(args.consumers)]
        urls = [(await serve(c))[0] for c in consumers]
        async with unit_of_work(sessions) as session:
            owner = await agents.register(
                session, f"bench-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 0
            )
            for consumer, consumer_url in zip(consumers, urls, strict=True):
                consumer.secret = signatures.new_secret()
                subscription = webhooks.Subscription(
                    EndpointKind.SELLER, consumer_url, ["listing_created"], consumer.secret
                )
                await webhooks.register(
                    session,
                    vault_of(settings),
                    guard.Allowlist.parse(settings.webhook_allowlist),
                    owner.id,
                    subscription,
                )
        client = await connect(address, "default")
        emit = await _outbox_emitter(sessions)
        warm = await _offer(emit, args.rate, 3)  # worker start, dispatcher, first drains
        await _received(consumers, warm, 120)
        runs = []
        worker, temporal_server = processes[1].pid, processes[0].pid
        for _ in range(args.runs):
            cpu = _cpu_meter(worker=worker, temporal_server=temporal_server)
            sent = await _offer(emit, args.rate, args.seconds)
            await _received(consumers, sent, 60)
            run = {"webhooks": _figures(consumers, sent)}
            run["cpu_ms_per_delivery"] = cpu(run["webhooks"]["deliveries"])
            run["where_the_time_goes"] = await _profile(sessions, sent)
            count = int(args.rate * args.seconds)
            run["baseline_plain_http"] = await _baseline(consumers, urls, count)
            runs.append(run)
        result = _summary(runs)
        if args.per_event:  # last and once: its backlog would slow whatever ran after it
            cpu = _cpu_meter(worker=processes[2].pid, temporal_server=temporal_server)
            figures = await _per_event(client, consumers, urls, args)
            figures["cpu_ms_per_delivery"] = cpu(figures["deliveries"])
            result["per_event_workflows"] = figures
        return result
    finally:
        await engine.dispose()
        _stop_in_turn(processes)


async def _per_event(
    client: Any, consumers: list[Consumer], urls: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    async def emit(n: int) -> tuple[str, float]:
        document = _envelope(n)
        body = json.dumps(document, separators=(",", ":"))
        at = time.time()
        await asyncio.gather(
            *(
                client.start_workflow(
                    per_event.PerEventDelivery.run,
                    args=[url, consumer.secret, document["id"], body],
                    id=f"webhook:{index}:{document['id']}",
                    task_queue=per_event.QUEUE,
                )
                for index, (consumer, url) in enumerate(zip(consumers, urls, strict=True))
            )
        )
        return document["id"], at

    sent = await _offer(emit, args.rate, args.seconds)
    await _received(consumers, sent, 60)
    return _figures(consumers, sent)


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def spread(path: tuple[str, str]) -> dict[str, Any]:
        values = [run[path[0]][path[1]] for run in runs if run[path[0]].get(path[1]) is not None]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    summary: dict[str, Any] = {
        "webhooks_per_s": spread(("webhooks", "per_s")),
        "webhooks_p50_ms": spread(("webhooks", "p50_ms")),
        "webhooks_p99_ms": spread(("webhooks", "p99_ms")),
        "baseline_plain_http_per_s": spread(("baseline_plain_http", "per_s")),
        "worker_cpu_ms_per_delivery": spread(("cpu_ms_per_delivery", "worker")),
        "temporal_cpu_ms_per_delivery": spread(("cpu_ms_per_delivery", "temporal_server")),
    }
    per_s, p99 = summary["webhooks_per_s"]["median"], summary["webhooks_p99_ms"]["median"]
    summary["ratio_to_baseline"] = round(per_s / summary["baseline_plain_http_per_s"]["median"], 3)
    missing = sum(run["webhooks"]["missing"] for run in runs)
    summary["met"] = per_s >= TARGET_PER_S and p99 <= TARGET_P99_S * 1000 and missing == 0
    return {"verdict": summary, "runs": runs}


def _webhooks(args: argparse.Namespace) -> dict[str, Any]:
    url = scratch_postgres("bench_feed")
    try:
        migrate(url)
        with tempfile.TemporaryDirectory(prefix="bench-feed-") as scratch:
            result = asyncio.run(_run(args, url, scratch))
    finally:
        drop_database(url)
    header = {
        "benchmark": "webhook_deliveries",
        "offered": f"{args.rate} events/s x {args.consumers} consumers for {args.seconds}s",
        "targets": {"per_s": f">= {TARGET_PER_S}", "p99_ms": f"<= {TARGET_P99_S * 1000:.0f}"},
    }
    return {**header, **result}


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=12, help="events committed per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--consumers", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--per-event", action="store_true", help="measure the per-event design")
    return parser.parse_args(argv)


def deliveries(args: argparse.Namespace) -> dict[str, Any]:
    """The webhook half: deliveries/s and commit-to-receipt latency, beside its baseline."""
    return _webhooks(args)


def main() -> int:
    args = options()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the stack on the way out
    print(json.dumps(_webhooks(args), indent=2))
    return 0


if __name__ == "__main__":
    exit_hard(main)
