"""Express-buy latency and throughput on the embedded stack, over HTTP, beside the Temporal floor.

    .venv/bin/python -m bench.purchase [--database sqlite|postgresql] [--purchases 240]
        [--concurrency 1 8 32] [--runs 3] [--api-processes 1]

The stack is `make run`'s (bench/stack.py): Temporal dev server, worker, API process(es) (as
API_PROCESSES) with their purchase workers, on SQLite (the embedded default) or a scratch
PostgreSQL database. Each level runs `--runs` times; every level's express runs and the floor's
(below) take turns in one rotation, so a machine that speeds up or slows down weighs on all of
them alike: the 32-buyer rate is compared with an 8-buyer rate measured in the same minutes.
Figures are medians with their spread.

The floor beside it: an empty workflow of the express buy's shape (unsandboxed, eagerly started
by a process that polls its queue, with the same search attributes, summary and closing status
upsert, one local no-op activity, its result awaited) on the same Temporal server, from this
process: what the durable part costs with nothing inside it.

Targets (issue 9): at 1 buyer p50 <= 30 ms and p99 <= 60 ms; at 8 buyers >= 55 buys/s with
p99 <= 400 ms; at 32 buyers at least the 8-buyer rate and no errors. Prints one JSON document,
with the share of a core each process used during each level and its CPU time per buy.
"""

import argparse
import asyncio
import json
import os
import tempfile
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

    from bench.load import Call, Workload, check, level, side_by_side
    from bench.stack import agents, client, healthy, scratch_database, stack
    from core.process import exit_hard
    from core.temporal import AGENT_ID, LISTING_ID, TRANSACTION_STATUS, connect

FLOOR_QUEUE = "bench-empty-express"
PRICE_USDC = "0.005"
SELLERS = 8
# A level's fewest buys per buyer: its buyers finish one by one at its end, and with 3 buys each
# (96 over 32 buyers) that drain was a third of the level.
PER_BUYER = 12
TARGETS = {
    1: {"p50_ms": ("<=", 30), "p99_ms": ("<=", 60)},
    8: {"per_s": (">=", 55), "p99_ms": ("<=", 400)},
}


@activity.defn(name="bench.noop")
async def noop(tx: uuid.UUID) -> str:
    return str(tx)


@workflow.defn(name="BenchEmptyExpress", sandboxed=False)  # as PurchaseWorkflow
class EmptyExpressWorkflow:
    @workflow.run
    async def run(self, tx: uuid.UUID) -> str:
        done = await workflow.execute_local_activity(
            noop, tx, start_to_close_timeout=timedelta(seconds=10)
        )
        workflow.upsert_search_attributes([TRANSACTION_STATUS.value_set("completed")])
        return done


def _floor(temporal: Client) -> Call:
    async def call(lane: int) -> str:
        tx = uuid.uuid4()
        buyer, seller, listing = (str(uuid.uuid4()) for _ in range(3))
        operators_see = TypedSearchAttributes(
            [
                SearchAttributePair(AGENT_ID, [buyer, seller]),
                SearchAttributePair(LISTING_ID, listing),
                SearchAttributePair(TRANSACTION_STATUS, "payment_pending"),
            ]
        )
        handle = await temporal.start_workflow(
            EmptyExpressWorkflow.run,
            tx,
            id=f"bench-express:{tx}",
            task_queue=FLOOR_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=operators_see,
            static_summary=f"Express purchase of listing {listing}",
            request_eager_start=True,
        )
        return await handle.result()

    return call


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


def _express(api: httpx.AsyncClient, buyers: list[dict[str, str]], listings: list[str]) -> Call:
    async def call(lane: int) -> str:
        listing = listings[lane % len(listings)]
        response = await api.post(f"/express/{listing}", headers=buyers[lane], json={})
        if response.status_code != 200:
            raise RuntimeError(f"express buy answered {response.status_code}: {response.text}")
        return str(response.json()["transaction_id"])

    return call


async def _run(args: argparse.Namespace, url: str, scratch: str) -> list[dict[str, Any]]:
    with stack(url, scratch, api_processes=args.api_processes) as running:
        async with client(running.api) as api:
            await healthy(api)
            temporal = await connect(running.temporal, "default")
            buyers = await agents(api, max(args.concurrency))
            listings = await _listings(api, await agents(api, SELLERS))
            express = _express(api, buyers, listings)
            async with Worker(
                temporal,
                task_queue=FLOOR_QUEUE,
                workflows=[EmptyExpressWorkflow],
                activities=[noop],
            ):
                floor = _floor(temporal)
                for call in (express, floor):  # warm-up: imports, caches, connections
                    await level(call, max(args.concurrency), max(args.concurrency))
                # Levels compared with each other (32 buyers against 8) take turns too.
                paths = []
                stack_processes = _processes(running)
                floor_processes = {"temporal": running.pids["temporal"], "this": os.getpid()}
                for concurrency in args.concurrency:
                    total = max(args.purchases, PER_BUYER * concurrency)
                    paths += [
                        Workload(express, stack_processes, total, concurrency),
                        Workload(floor, floor_processes, total, concurrency),
                    ]
                figures = await side_by_side(paths, args.runs)
                rows = [
                    {"buyers": concurrency, "express": buys, "empty_workflow": empty}
                    for concurrency, buys, empty in zip(
                        args.concurrency, figures[::2], figures[1::2], strict=True
                    )
                ]
                return rows


def _processes(running: Any) -> dict[str, int]:
    """The stack's processes, and this one: its HTTP client shares the machine's cores."""
    return {**running.pids, "load_generator": os.getpid()}


def _verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    verdict: dict[str, Any] = {}
    by_buyers = {row["buyers"]: row["express"] for row in rows}
    for buyers, targets in TARGETS.items():
        figures = by_buyers.get(buyers)
        for key, (op, target) in targets.items():
            value = figures.get(key) if figures else None
            verdict[f"{key}@{buyers}"] = {
                "value": value,
                "target": f"{op} {target}",
                "pass": check(value, op, target),
            }
    if 32 in by_buyers and 8 in by_buyers:
        rate, errors = by_buyers[32].get("per_s"), by_buyers[32]["errors"]
        verdict["per_s@32"] = {
            "value": rate,
            "target": f">= {by_buyers[8].get('per_s')} (the 8-buyer rate), 0 errors",
            "pass": check(rate, ">=", by_buyers[8].get("per_s") or 0) and errors == 0,
        }
    verdict["all_pass"] = all(v["pass"] for v in verdict.values())
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--purchases",
        type=int,
        default=240,
        help=f"per level and run, at least {PER_BUYER} a buyer",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--api-processes", type=int, default=1, help="as API_PROCESSES")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-purchase-") as scratch,
        scratch_database(args.database, scratch) as url,
    ):
        rows = asyncio.run(_run(args, url, scratch))
    result = {
        "benchmark": "express_purchase",
        "database": args.database,
        "api_processes": args.api_processes,
        "runs": args.runs,
        "verdict": _verdict(rows),
        "levels": rows,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    exit_hard(main)
