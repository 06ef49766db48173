"""`POST /wallet/transfer` over HTTP on the embedded stack, beside the same HTTP path reading.

    .venv/bin/python -m bench.transfer [--database sqlite|postgresql] [--transfers 400]
        [--concurrency 1 8 32] [--runs 3]

Each client sends transfers one after the other to the next client's agent (a ring, so every
account is both debited and credited). The baseline, measured in the same run: the same clients
asking for their balance (`GET /wallet/balance`: the request, its authentication and two reads,
no movement). Medians of `--runs` runs with their spread.

Target (issue 9): at 8 clients on the embedded stack >= 110 transfers/s with p99 <= 340 ms.
"""

import argparse
import asyncio
import json
import tempfile
import uuid
from typing import Any

import httpx

from bench.load import Call, check, level, measure
from bench.stack import agents, client, healthy, scratch_database, stack
from core.process import exit_hard

TARGET = {"clients": 8, "per_s": 110, "p99_ms": 340}


def _transfers(api: httpx.AsyncClient, senders: list[dict[str, str]]) -> Call:
    async def call(lane: int) -> str:
        receiver = senders[(lane + 1) % len(senders)]["X-Agent-Id"]
        body = {"to_agent_id": receiver, "amount": "1.000", "memo": "bench"}
        headers = {**senders[lane], "Idempotency-Key": uuid.uuid4().hex}
        response = await api.post("/wallet/transfer", headers=headers, json=body)
        if response.status_code != 201:
            raise RuntimeError(f"transfer answered {response.status_code}: {response.text}")
        return str(response.json()["id"])

    return call


def _balances(api: httpx.AsyncClient, senders: list[dict[str, str]]) -> Call:
    async def call(lane: int) -> str:
        response = await api.get("/wallet/balance", headers=senders[lane])
        response.raise_for_status()
        return str(response.json()["available"])

    return call


async def _run(args: argparse.Namespace, url: str, scratch: str) -> list[dict[str, Any]]:
    with stack(url, scratch, api_processes=args.api_processes) as running:
        async with client(running.api) as api:
            await healthy(api)
            senders = await agents(api, max(args.concurrency))
            transfers, balances = _transfers(api, senders), _balances(api, senders)
            for call in (transfers, balances):  # warm-up
                await level(call, 2 * max(args.concurrency), max(args.concurrency))
            rows = []
            for concurrency in args.concurrency:
                moved = await measure(
                    transfers, args.transfers, concurrency, args.runs, running.pids
                )
                read = await measure(balances, args.transfers, concurrency, args.runs)
                rows.append({"clients": concurrency, "transfer": moved, "balance_read": read})
            return rows


def _verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    row = next((r for r in rows if r["clients"] == TARGET["clients"]), None)
    moved = row["transfer"] if row else {}
    per_s, p99 = moved.get("per_s"), moved.get("p99_ms")
    return {
        "per_s@8": {"value": per_s, "target": ">= 110", "pass": check(per_s, ">=", 110)},
        "p99_ms@8": {"value": p99, "target": "<= 340", "pass": check(p99, "<=", 340)},
        "ratio_to_balance_read@8": round(per_s / row["balance_read"]["per_s"], 3)
        if row and per_s
        else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--transfers", type=int, default=400, help="per level and run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--api-processes", type=int, default=1, help="as API_PROCESSES")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-transfer-") as scratch,
        scratch_database(args.database, scratch) as url,
    ):
        rows = asyncio.run(_run(args, url, scratch))
    result = {
        "benchmark": "wallet_transfer",
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
