"""Crash test: the API process SIGKILLed in the middle of express buys, each buyer retrying.

The API runs as deployed, a uvicorn process (`worker.api_process`: the API, with the purchase
worker beside it, starting express purchases eagerly), over real HTTP; `python -m worker` runs
beside it as its own process; both on a private Temporal namespace and PostgreSQL database
(crash_harness). BUYERS agents buy express, one `Idempotency-Key` per purchase, over and over
while the API's whole process group is SIGKILLed KILLS times, each kill aimed at a moment when
buys are in flight, and restarted on the same port. Each buyer retries its key through refused
connections and 5xx until it has an answer.
Afterwards each key was charged exactly once (one completed purchase, one ledger movement, the
buyer down by exactly the prices, each seller credited once per sale), nothing is held, every
workflow closed and the ledger verifies. Set CRASH_SEED to replay a run's random choices.
"""

import asyncio
import json
import os
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.flows.purchases import purchase_id
from core.db import unit_of_work
from models.ledger import LedgerHold, LedgerMovement
from models.purchases import Transaction
from tests.api.helpers import register
from tests.api.test_listings import listing
from tests.api_processes import ApiProcesses
from tests.ledger_helpers import assert_invariants, balances, mint
from tests.workflows.crash_harness import crash_rig, still_running, unclosed, wait_closed

Sessions = async_sessionmaker[AsyncSession]
Agent = dict[str, Any]

BUYERS, SELLERS = 10, 3
FUNDING_UNITS = 10_000_000  # far more than the buys cost: every key should complete
KILLS = 4
UPTIME_SECONDS = (0.5, 2.5)  # the API serves this long (uniform) before the kill is aimed
DOWNTIME_SECONDS = (0.0, 1.0)  # and stays dead this long
AIM_IN_FLIGHT = 3  # a kill waits (a while) for this many buys to be in flight
AIM_SECONDS = 15.0
PAUSE_SECONDS = (0.1, 0.6)  # a buyer's pause between two purchases
RETRY_SECONDS = 0.2  # and between two tries of one key
# A workflow task lost with the API is retried after its timeout (10 s), and a sticky one after
# its schedule-to-start timeout: a retried key can wait that long for its answer.
ATTEMPT_TIMEOUT = 60.0
KEY_TIMEOUT = 120.0
CLOSE_TIMEOUT = 60.0


@dataclass
class Run:
    rng: random.Random
    chaos_over: bool = False
    in_flight: int = 0
    kills_in_flight: list[int] = field(default_factory=list)
    # (buyer id, key) -> listing id, tries, and the final answer's status and transaction id
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    tries: Counter[tuple[str, str]] = field(default_factory=Counter)
    answers: dict[tuple[str, str], tuple[int, str | None]] = field(default_factory=dict)
    outage_errors: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[int, str]] = field(default_factory=list)
    replayed: int = 0


async def _listings(api: httpx.AsyncClient, sellers: list[Agent]) -> list[str]:
    """Two listings per seller, below the quality-bonus threshold (a sale pays the same share)."""
    made = []
    for number, seller in enumerate(sellers * 2):
        content = json.dumps({"query": f"api crash {number}", "results": ["a", "b"]})
        body = listing(content=content, quality_score="0.5")
        response = await api.post("/api/v1/listings", headers=seller["headers"], json=body)
        assert response.status_code == 201, response.text
        made.append(str(response.json()["id"]))
    return made


async def _buy_once(run: Run, http: httpx.AsyncClient, buyer: Agent, listing_id: str) -> None:
    """One express purchase under a key of its own, tried again until the API answers it."""
    key = f"express-{uuid.uuid4().hex}"
    mine = (buyer["id"], key)
    run.keys[mine] = listing_id
    headers = {**buyer["headers"], "Idempotency-Key": key}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KEY_TIMEOUT
    while loop.time() < deadline:
        run.tries[mine] += 1
        run.in_flight += 1
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT):
                response = await http.post(f"/api/v1/express/{listing_id}", headers=headers)
        except (httpx.TransportError, TimeoutError) as exc:  # the API died, or is not back yet
            run.outage_errors[type(exc).__name__] += 1
        else:
            if response.status_code < 500:
                body = response.json()
                run.answers[mine] = (response.status_code, body.get("transaction_id"))
                run.replayed += response.headers.get("Idempotent-Replayed") == "true"
                return
            run.server_errors.append((response.status_code, response.text[:200]))
        finally:
            run.in_flight -= 1
        await asyncio.sleep(RETRY_SECONDS)
    raise AssertionError(f"key {key} got no answer in {KEY_TIMEOUT:.0f}s")


async def _buyer(run: Run, http: httpx.AsyncClient, buyer: Agent, offers: list[str]) -> None:
    """Buy, again and again, until the chaos is over."""
    while not run.chaos_over:
        await _buy_once(run, http, buyer, run.rng.choice(offers))
        await asyncio.sleep(run.rng.uniform(*PAUSE_SECONDS))


async def _buys_in_flight(run: Run) -> None:
    """Until AIM_IN_FLIGHT buys are in flight, or AIM_SECONDS passed."""
    for _ in range(int(AIM_SECONDS / 0.01)):
        if run.in_flight >= AIM_IN_FLIGHT:
            return
        await asyncio.sleep(0.01)


async def _chaos(run: Run, api: ApiProcesses) -> list[int | None]:
    """KILLS times: let the API serve a while, wait for buys in flight, SIGKILL its process
    group, restart it on the same port. Returns how each API process had exited before its kill
    (None: it was running)."""
    exits = []
    try:
        for _ in range(KILLS):
            await asyncio.sleep(run.rng.uniform(*UPTIME_SECONDS))
            await _buys_in_flight(run)
            # a moment more, so the in-flight requests are inside the purchase, not at the socket
            await asyncio.sleep(run.rng.uniform(0.0, 0.15))
            exits.append(api.exit_code)
            seen = run.in_flight
            await api.kill()
            run.kills_in_flight.append(seen)
            await asyncio.sleep(run.rng.uniform(*DOWNTIME_SECONDS))
            await api.__aenter__()
    finally:
        run.chaos_over = True
    return exits


async def _tasks_lost(client: Client, workflow_ids: list[str]) -> int:
    """Purchases whose workflow task timed out: it was running in an API process when it died."""
    lost = 0
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        lost += any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in history.events
        )
    return lost


async def _rows(sessions: Sessions) -> list[Transaction]:
    async with unit_of_work(sessions) as session:
        return list(await session.scalars(select(Transaction)))


async def _check_money(
    sessions: Sessions,
    run: Run,
    rows: list[Transaction],
    start: dict[str, int],
    buyers: list[Agent],
    sellers: list[Agent],
) -> None:
    """One purchase per key, charged once; each seller credited once per sale; nothing held."""
    by_id = {tx.id: tx for tx in rows}
    assert len(rows) == len(run.keys)  # no purchase but the keys' own
    for (buyer_id, key), listing_id in run.keys.items():
        tx = by_id[purchase_id(uuid.UUID(buyer_id), key)]
        assert (str(tx.listing_id), tx.status, tx.express) == (listing_id, "completed", True)
        assert run.answers[(buyer_id, key)] == (200, str(tx.id)), (key, tx.status)
    async with unit_of_work(sessions) as session:
        moved = Counter(
            await session.scalars(
                select(LedgerMovement.idempotency_key).where(
                    LedgerMovement.idempotency_key.like("purchase:%")
                )
            )
        )
        holds = await session.scalar(
            select(func.count()).select_from(LedgerHold).where(LedgerHold.status == "pending")
        )
    assert moved == Counter(f"purchase:{tx.id}:express" for tx in rows)
    assert holds == 0
    after = await balances(sessions)
    assert after["escrow"] == 0
    for buyer in buyers:
        spent = sum(tx.amount_units for tx in rows if str(tx.buyer_id) == buyer["id"])
        assert after[buyer["id"]] == start[buyer["id"]] - spent, buyer["id"]
    for seller in sellers:  # no quality bonus, no royalty: the price less the fee, once a sale
        earned = sum(
            tx.amount_units - tx.fee_units for tx in rows if str(tx.seller_id) == seller["id"]
        )
        assert after[seller["id"]] == start[seller["id"]] + earned, seller["id"]
    await assert_invariants(sessions)


@pytest.mark.temporal
async def test_express_buys_survive_api_sigkills(
    private_postgres_url: str, temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(2**32)))
    run = Run(rng=random.Random(seed))
    async with crash_rig(private_postgres_url, temporal_dev, tmp_path, db_pool_size=20) as rig:
        sessions, worker = rig.sessions, rig.worker
        sellers = [await register(rig.api) for _ in range(SELLERS)]
        buyers = [await register(rig.api) for _ in range(BUYERS)]
        for buyer in buyers:
            await mint(sessions, buyer["id"], FUNDING_UNITS)
        offers = await _listings(rig.api, sellers)
        start = await balances(sessions)
        worker.start()
        api = ApiProcesses(rig.settings, 1, tmp_path)
        await api.__aenter__()
        began = asyncio.get_running_loop().time()
        context = f"seed {seed}"
        try:
            async with httpx.AsyncClient(base_url=api.url, timeout=None) as http:
                drivers = [_buyer(run, http, buyer, offers) for buyer in buyers]
                exits, *_ = await asyncio.gather(_chaos(run, api), *drivers)
            driven = asyncio.get_running_loop().time() - began
            rows = await _rows(sessions)
            workflow_ids = [tx.workflow_id for tx in rows]
            closed = await wait_closed(rig.client, workflow_ids, worker, CLOSE_TIMEOUT)
            context = f"seed {seed}; API log:\n{api.log[-3000:]}\nworker log:\n{worker.tail()}"
            context += "\n" + await unclosed(rig.client, workflow_ids, closed)
            assert set(closed) == set(workflow_ids), context
            assert set(closed.values()) == {WorkflowExecutionStatus.COMPLETED}, context
            assert await still_running(rig.client, ("PurchaseWorkflow",)) == [], context
            await _check_money(sessions, run, await _rows(sessions), start, buyers, sellers)
            lost = await _tasks_lost(rig.client, workflow_ids)
        finally:
            await api.__aexit__()
        assert exits == [None] * KILLS, f"the API died on its own; {context}"
        assert worker.unexpected_exits == [], context
        assert run.server_errors == [], run.server_errors  # an outage is no excuse for a 5xx
        assert len(run.kills_in_flight) == KILLS
        assert sum(1 for n in run.kills_in_flight if n > 0) >= KILLS - 1, run.kills_in_flight
        retried = sum(1 for n in run.tries.values() if n > 1)
        assert retried > 0  # some keys did meet a dead API and were tried again
        assert lost > 0  # and some kills landed inside purchases, not between them
        print(
            f"\nAPI crash test: seed {seed}; {len(run.keys)} keys, {retried} tried more than "
            f"once, {run.replayed} answered as replays, {lost} purchases"
            f" whose workflow task died with the API; drivers done after {driven:.0f}s; "
            f"{KILLS} SIGKILLs with {run.kills_in_flight} buys in flight; outage errors "
            f"{dict(run.outage_errors)}"
        )
