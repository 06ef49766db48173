"""Express-buy latency and throughput on the embedded stack, next to an empty workflow of the
same shape on the same Temporal server, in the same invocation.

    .venv/bin/python -m bench.purchase [--purchases 96] [--concurrency 1 8 32] [--profile 20]
        [--temporal-db file|memory] [--dynamic-config KEY=VALUE ...]

The stack: a Temporal dev server (SQLite file, as `make run`), a scratch PostgreSQL database,
the worker (`python -m worker`) and the API (uvicorn on loopback), driven over real HTTP. The
baseline is `EmptyPurchaseWorkflow` below: the purchase's shape (two activities, a child
workflow with one, one more activity) with no-op activities, on its own task queue, served by
this module running as a second worker process (`--baseline-worker`) and started the way the
API starts a purchase (start, then wait for the result). It does no search-attribute upserts.

Targets: express purchases/s >= 0.8 x the empty workflow's; p50 <= 40 ms and p99 <= 120 ms at
one buyer. Prints one JSON document, with a profile of where an express buy's time goes.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

    from bench.ledger import _drop, _scratch_database
    from bench.purchase_profile import profile
    from core.process import exit_hard
    from core.temporal import binary, connect, dev_server_flags
    from worker.cli import migrate
    from workflows.messages import PurchaseState, PurchaseTerms

BASELINE_QUEUE = "bench-empty-purchase"
PRODUCT_QUEUE = "bench-purchases"
STEP = timedelta(seconds=30)
PRICE_USDC = "0.005"
SELLERS = 8


# --- The baseline: the purchase's shape, with activities that do nothing -----------------


@activity.defn(name="bench.noop")
async def noop(tx: uuid.UUID, status: str) -> PurchaseState:
    return PurchaseState(transaction_id=tx, status=status)


@activity.defn(name="bench.noop_verify")
async def noop_verify(tx: uuid.UUID) -> bool:
    return True


@workflow.defn(name="BenchEmptyVerification")
class EmptyVerificationWorkflow:
    @workflow.run
    async def run(self, tx: uuid.UUID) -> bool:
        return await workflow.execute_activity(noop_verify, tx, start_to_close_timeout=STEP)


@workflow.defn(name="BenchEmptyPurchase")
class EmptyPurchaseWorkflow:
    @workflow.run
    async def run(self, terms: PurchaseTerms) -> PurchaseState:
        tx = terms.transaction_id
        for status in ("payment_confirmed", "delivered"):  # pay, deliver_from_store
            await workflow.execute_activity(noop, args=[tx, status], start_to_close_timeout=STEP)
        await workflow.execute_child_workflow(
            EmptyVerificationWorkflow.run, tx, id=f"bench-verify:{tx}"
        )
        return await workflow.execute_activity(  # settle
            noop, args=[tx, "completed"], start_to_close_timeout=STEP
        )


async def _serve_baseline(address: str) -> None:
    client = await connect(address, "default")
    worker = Worker(
        client,
        task_queue=BASELINE_QUEUE,
        workflows=[EmptyPurchaseWorkflow, EmptyVerificationWorkflow],
        activities=[noop, noop_verify],
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


# --- The stack -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:.0f}s")


def _start_stack(
    url: str, scratch: str, args: argparse.Namespace
) -> tuple[list[subprocess.Popen[bytes]], str, str]:
    """Temporal, the worker, the baseline worker and the API: (processes, temporal, api)."""
    temporal_port, api_port = _free_port(), _free_port()
    temporal = f"127.0.0.1:{temporal_port}"
    server = [binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1"]
    server += ["--port", str(temporal_port), "--headless", "--log-level", "error"]
    if args.temporal_db == "file":  # as `make run`; "memory" as the test suite's dev server
        server += ["--db-filename", f"{scratch}/temporal.db"]
    server += dev_server_flags()  # as `make run`
    for value in args.dynamic_config:
        server += ["--dynamic-config-value", value]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DB_POOL_SIZE": "20",
        "DB_MAX_OVERFLOW": "20",
        "LOG_LEVEL": "WARNING",
        "CONTENT_STORE_PATH": f"{scratch}/content",
        "CDN_WARM_PATH": f"{scratch}/warm",
        "TEMPORAL_ADDRESS": temporal,
        "TEMPORAL_TASK_QUEUE": PRODUCT_QUEUE,
        "TOKEN_SIGNUP_BONUS": "1000000",  # enough credits for any run
        "REST_RATE_LIMIT_AUTHENTICATED": "1000000",
        "REST_RATE_LIMIT_ANONYMOUS": "1000000",
        "REGISTRATIONS_PER_CLIENT_PER_HOUR": "1000000",
        "SIGNUP_BONUS_DAILY_BUDGET_ARD": "1000000000000",
        "WORKER_METRICS_PORT": "0",
    }
    processes = [subprocess.Popen(server, stdout=subprocess.DEVNULL, start_new_session=True)]
    _wait_for_port(temporal_port, processes[0])
    api = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    api += ["--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"]
    for command in (
        [sys.executable, "-m", "worker"],
        [sys.executable, "-m", "bench.purchase", "--baseline-worker", temporal],
        [*api, "--no-access-log"],
    ):
        processes.append(subprocess.Popen(command, env=env, start_new_session=True))
    _wait_for_port(api_port, processes[-1])
    return processes, temporal, f"http://127.0.0.1:{api_port}/api/v1"


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in reversed(processes):
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _healthy(api: httpx.AsyncClient) -> None:
    """Wait (up to a minute) until the API reports its database, Temporal and worker ready."""
    last = None
    try:
        async with asyncio.timeout(60):
            while last is None or last.get("status") != "ok":
                with contextlib.suppress(httpx.HTTPError):
                    last = (await api.get("/health")).json()
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise RuntimeError(f"the stack is not healthy: {last}") from None


async def _agents(api: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
    made = []
    for _ in range(count):
        body = {"name": f"bench-{uuid.uuid4().hex[:12]}", "agent_type": "both"}
        response = await api.post("/agents/register", json=body)
        response.raise_for_status()
        made.append({"Authorization": f"Bearer {response.json()['jwt_token']}"})
    return made


async def _listings(api: httpx.AsyncClient, sellers: list[dict[str, str]]) -> list[str]:
    ids = []
    for number, seller in enumerate(sellers):
        body = {
            "title": f"Bench result {number}",
            "category": "web_search",
            "content": json.dumps({"query": f"bench {number}", "results": ["a", "b", "c"]}),
            "content_type": "application/json",
            "price_usdc": PRICE_USDC,
        }
        response = await api.post("/listings", headers=seller, json=body)
        response.raise_for_status()
        ids.append(str(response.json()["id"]))
    return ids


# --- Load ------------------------------------------------------------------------------------

Call = Callable[[int], Awaitable[str]]  # lane number -> workflow id, after it has closed


async def _level(call: Call, total: int, concurrency: int) -> dict[str, Any]:
    """`total` calls spread over `concurrency` lanes, each lane one after the other."""
    samples: list[tuple[str, float, float]] = []  # workflow id, sent (epoch s), latency (s)

    async def lane(number: int) -> None:
        for _ in range(total // concurrency):
            sent, started = time.time(), time.perf_counter()
            workflow_id = await call(number)
            samples.append((workflow_id, sent, time.perf_counter() - started))

    started = time.perf_counter()
    await asyncio.gather(*(lane(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies = sorted(s[2] for s in samples)
    return {
        "concurrency": concurrency,
        "purchases": len(samples),
        "per_s": round(len(samples) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 1),
        "samples": samples,
    }


def _express(
    api: httpx.AsyncClient, buyers: list[dict[str, str]], listings: list[str], served: list[int]
) -> Call:
    async def call(lane: int) -> str:
        listing = listings[lane % len(listings)]
        response = await api.post(f"/express/{listing}", headers=buyers[lane], json={})
        if response.status_code != 200:
            raise RuntimeError(f"express buy answered {response.status_code}: {response.text}")
        served.append(int(response.headers["X-Delivery-Ms"]))
        return f"purchase:{response.json()['transaction_id']}"

    return call


def _empty(client: Client) -> Call:
    async def call(lane: int) -> str:
        tx = uuid.uuid4()
        handle = await client.start_workflow(
            EmptyPurchaseWorkflow.run,
            PurchaseTerms(transaction_id=tx, express=True),
            id=f"bench-purchase:{tx}",
            task_queue=BASELINE_QUEUE,
        )
        await handle.result()
        return handle.id

    return call


# --- Main ------------------------------------------------------------------------------------


async def _run(args: argparse.Namespace, url: str, scratch: str) -> dict[str, Any]:
    processes, address, base = _start_stack(url, scratch, args)
    try:
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as api:
            await _healthy(api)
            client = await connect(address, "default")
            buyers = await _agents(api, max(args.concurrency))
            listings = await _listings(api, await _agents(api, SELLERS))
            served: list[int] = []
            express, empty = _express(api, buyers, listings, served), _empty(client)
            for call in (express, empty):  # warm-up: imports, caches, connections
                await _level(call, max(args.concurrency), max(args.concurrency))
            runs = []
            for concurrency in args.concurrency:
                served.clear()
                buys = await _level(express, args.purchases, concurrency)
                baseline = await _level(empty, args.purchases, concurrency)
                run = {
                    "concurrency": concurrency,
                    "express": {k: v for k, v in buys.items() if k != "samples"},
                    "empty_workflow": {k: v for k, v in baseline.items() if k != "samples"},
                    "ratio_to_empty_workflow": round(buys["per_s"] / baseline["per_s"], 3),
                }
                run["express"]["api_route_p50_ms"] = statistics.median(served)
                if concurrency == args.concurrency[0] and args.profile:
                    run["profile_express"] = await profile(client, buys, args.profile)
                    run["profile_empty_workflow"] = await profile(client, baseline, args.profile)
                runs.append(run)
            return {"verdict": _verdict(runs), "runs": runs}
    finally:
        _stop(processes)


def _verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ratio = min(run["ratio_to_empty_workflow"] for run in runs)
    verdict: dict[str, Any] = {"lowest_ratio_to_empty_workflow": ratio, "met": ratio >= 0.8}
    for run in runs:
        if run["concurrency"] == 1:
            p50, p99 = run["express"]["p50_ms"], run["express"]["p99_ms"]
            verdict.update(p50_ms_one_buyer=p50, p99_ms_one_buyer=p99)
            verdict["met"] = verdict["met"] and p50 <= 40 and p99 <= 120
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=96, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--profile", type=int, default=20, help="histories to read (0: none)")
    parser.add_argument("--temporal-db", choices=["file", "memory"], default="file")
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="for the dev server, e.g. history.transferProcessorMaxPollRPS=1000",
    )
    parser.add_argument("--baseline-worker", metavar="TEMPORAL_ADDRESS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        asyncio.run(_serve_baseline(args.baseline_worker))
        return 0
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the stack on the way out
    url = _scratch_database("bench_purchase")
    try:
        migrate(url)
        with tempfile.TemporaryDirectory(prefix="bench-purchase-") as scratch:
            result = asyncio.run(_run(args, url, scratch))
    finally:
        _drop(url)
    targets = {"ratio_to_empty_workflow": ">= 0.8", "p50_ms_one_buyer": "<= 40"}
    targets["p99_ms_one_buyer"] = "<= 120"
    header = {
        "benchmark": "express_purchase",
        "temporal_db": args.temporal_db,
        "dynamic_config": args.dynamic_config,
        "targets": targets,
    }
    print(json.dumps({**header, **result}, indent=2))
    return 0


if __name__ == "__main__":
    exit_hard(main)
