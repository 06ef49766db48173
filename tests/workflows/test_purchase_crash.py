"""Crash test: 100 purchases in flight while the worker process is SIGKILLed and restarted.

The API runs in this process (the real app over httpx); the worker is its own OS process
(`python -m worker`), pointed by environment variables at the session's Temporal dev server, a
private namespace (the worker creates its schedules there, not in the shared one) and a private
PostgreSQL database (see crash_harness). It is killed with SIGKILL at random moments, KILLS
times, and restarted.
Afterwards every purchase must have closed, nobody may be charged twice and the ledger must
balance. Set CRASH_SEED to replay a run's random choices.
"""

import asyncio
import json
import os
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core.db import unit_of_work
from models.ledger import LedgerHold, LedgerMovement
from models.purchases import Transaction, VerificationRecord
from tests.api.helpers import register
from tests.api.test_listings import listing
from tests.ledger_helpers import assert_invariants, balances
from tests.workflows.crash_harness import (
    WorkerProcess,
    crash_rig,
    sigkill_at_random,
    still_running,
    unclosed,
    wait_closed,
)
from workflows.contracts.purchase import PurchaseState

Sessions = async_sessionmaker[AsyncSession]
Agent = dict[str, Any]

WINDOW_SECONDS = 10  # to pay, to deliver, to verify
KILLS = 6
UPTIME_SECONDS = (1.0, 4.0)  # a worker lives this long (uniform) before its SIGKILL
DOWNTIME_SECONDS = (0.0, 1.0)  # and stays dead this long
STAGGER_SECONDS = 12.0  # purchases start spread over this, so kills meet every step
# A step lost with a killed worker is retried only after its start-to-close timeout: 30 s for
# the purchase's activities, 2 min for the verification's. An express buy can meet both.
REQUEST_TIMEOUT = 240.0
CLOSE_TIMEOUT = 300.0
FINAL = ("completed", "disputed", "refunded", "expired", "failed")
PURCHASE_TYPES = ("PurchaseWorkflow", "DeliveryVerificationWorkflow")
# Kind of purchase -> how many. 100 in all.
MIX = {
    "express": 50,
    "express_unaffordable": 5,  # 500 ARD > the 100 ARD signup bonus: refused, nothing held
    "four_steps": 30,
    "forged_delivery": 5,  # disputed, hold released
    "paid_then_abandoned": 5,  # expired after the delivery window, hold released
    "initiated_only": 5,  # expired after the payment window, nothing held
}
BUYERS, SELLERS = 20, 4


@dataclass
class Run:
    """What the drivers and the chaos loop saw."""

    rng: random.Random
    in_flight: int = 0
    kills_in_flight: list[int] = field(default_factory=list)
    express_answers: list[tuple[str, int, str | None]] = field(default_factory=list)


async def _listings(api: httpx.AsyncClient, sellers: list[Agent]) -> list[tuple[Agent, str, str]]:
    """Two listings per seller (one above the quality-bonus threshold), and one too dear."""
    specs = [(s, "0.005", q) for s in sellers for q in ("0.5", "0.9")]
    specs.append((sellers[0], "0.5", "0.5"))
    made = []
    for number, (seller, price, quality) in enumerate(specs):
        content = json.dumps({"query": f"crash test {number}", "results": ["a", "b"]})
        body = listing(content=content, price_usdc=price, quality_score=quality)
        response = await api.post("/api/v1/listings", headers=seller["headers"], json=body)
        assert response.status_code == 201, response.text
        made.append((seller, str(response.json()["id"]), content))
    return made


async def _post(api: httpx.AsyncClient, path: str, agent: Agent, **kwargs: Any) -> httpx.Response:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        return await api.post(f"/api/v1{path}", headers=agent["headers"], **kwargs)


async def _express(run: Run, api: httpx.AsyncClient, buyer: Agent, listing_id: str) -> None:
    response = await _post(api, f"/express/{listing_id}", buyer, json={})
    tx = response.json().get("transaction_id") if response.status_code == 200 else None
    run.express_answers.append((listing_id, response.status_code, tx))


async def _initiate(api: httpx.AsyncClient, buyer: Agent, listing_id: str) -> str:
    """Only the worker dies: the API and Temporal always open a purchase."""
    response = await _post(api, "/transactions/initiate", buyer, json={"listing_id": listing_id})
    assert response.status_code == 201, response.text
    return f"/transactions/{response.json()['transaction_id']}"


async def _four_steps(
    api: httpx.AsyncClient, kind: str, buyer: Agent, seller: Agent, listing_id: str, content: str
) -> None:
    """Initiate, then take whichever step the transaction waits for until it reaches the kind's
    goal or closes. A refused or failed step is simply tried again: the state says what's next."""
    path = await _initiate(api, buyer, listing_id)
    goal = {"initiated_only": "payment_pending", "paid_then_abandoned": "payment_confirmed"}
    delivery = {"content": "forged content" if kind == "forged_delivery" else content}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REQUEST_TIMEOUT
    while loop.time() < deadline:
        read = await api.get(f"/api/v1{path}", headers=buyer["headers"])
        status = read.json()["status"] if read.status_code == 200 else None
        if status in FINAL or status == goal.get(kind):
            return
        if status == "payment_pending":
            response = await _post(api, f"{path}/confirm-payment", buyer)
        elif status == "payment_confirmed":
            response = await _post(api, f"{path}/deliver", seller, json=delivery)
        elif status == "delivered":
            response = await _post(api, f"{path}/verify", buyer)
        else:
            response = read
        await asyncio.sleep(0.05 if response.status_code == 200 else 0.5)


async def _drive(run: Run, delay: float, purchase: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(delay)
    run.in_flight += 1
    try:
        await purchase()
    finally:
        run.in_flight -= 1


async def _chaos(run: Run, worker: WorkerProcess) -> None:
    """SIGKILL the worker at random moments of its life, KILLS times, restarting it each time;
    each kill waits (a little) for purchases to be in flight, so it meets some."""

    async def purchases_in_flight() -> None:
        for _ in range(100):
            if run.in_flight:
                return
            await asyncio.sleep(0.05)

    in_flight = await sigkill_at_random(
        worker,
        run.rng,
        KILLS,
        UPTIME_SECONDS,
        DOWNTIME_SECONDS,
        lambda: run.in_flight,
        aim=purchases_in_flight,
    )
    run.kills_in_flight.extend(in_flight)


async def _purchases(
    api: httpx.AsyncClient, run: Run, sellers: list[Agent], buyers: list[Agent]
) -> list[Callable[[], Awaitable[None]]]:
    offers = await _listings(api, sellers)
    cheap, dear = offers[:-1], offers[-1]
    kinds = [kind for kind, count in MIX.items() for _ in range(count)]
    run.rng.shuffle(kinds)
    purchases: list[Callable[[], Awaitable[None]]] = []
    for number, kind in enumerate(kinds):
        buyer = buyers[number % len(buyers)]
        seller, listing_id, content = (
            dear if kind == "express_unaffordable" else cheap[number % len(cheap)]
        )
        if kind.startswith("express"):
            purchases.append(partial(_express, run, api, buyer, listing_id))
        else:
            purchases.append(partial(_four_steps, api, kind, buyer, seller, listing_id, content))
    return purchases


async def _transactions(sessions: Sessions) -> list[Transaction]:
    async with unit_of_work(sessions) as session:
        return list(await session.scalars(select(Transaction)))


async def _check_ledger(
    sessions: Sessions, rows: list[Transaction], start: dict[str, int], buyers: list[Agent]
) -> None:
    """Money moved exactly as each purchase's final state says, and only then."""
    async with unit_of_work(sessions) as session:
        keys = set(
            await session.scalars(
                select(LedgerMovement.idempotency_key).where(
                    LedgerMovement.idempotency_key.like("purchase:%")
                )
            )
        )
        pending_holds = await session.scalar(
            select(func.count()).select_from(LedgerHold).where(LedgerHold.status == "pending")
        )
    assert pending_holds == 0
    for tx in rows:  # express settles straight from the buyer: nothing is held, nothing released
        settle, release = ("express", None) if tx.express else ("settle", "release")
        settled = f"purchase:{tx.id}:{settle}" in keys
        released = f"purchase:{tx.id}:{release}" in keys
        assert settled == (tx.status == "completed"), (tx.id, tx.status)
        held = tx.paid_at is not None and not tx.express
        assert released == (tx.status != "completed" and held), (tx.id, tx.status)
    after = await balances(sessions)
    assert after["escrow"] == 0
    for buyer in buyers:  # charged once for each completed purchase, and for nothing else
        mine = [tx for tx in rows if str(tx.buyer_id) == buyer["id"] and tx.status == "completed"]
        assert after[buyer["id"]] == start[buyer["id"]] - sum(tx.amount_units for tx in mine)
    await assert_invariants(sessions)


async def _check_results(client: Client, rows: list[Transaction], run: Run, context: str) -> None:
    """Each workflow's result is its row's final state; the express answers agree with both."""
    by_id = {tx.id: tx for tx in rows}
    for tx in rows:
        handle = client.get_workflow_handle(tx.workflow_id, result_type=PurchaseState)
        assert (await handle.result()).status == tx.status, (tx.id, context)
    dear = {tx.listing_id for tx in rows if tx.amount_units > 5_000}
    for listing_id, code, tx_id in run.express_answers:
        assert code in (200, 402, 409, 503), (listing_id, code)
        if code == 200:
            assert tx_id is not None and by_id[uuid.UUID(tx_id)].status == "completed"
            assert uuid.UUID(listing_id) not in dear
    # Nobody who was told "no" was charged: as many express purchases completed as were answered.
    answered = sum(1 for _, code, _ in run.express_answers if code == 200)
    assert answered == sum(1 for tx in rows if tx.express and tx.status == "completed")


async def _duplicate_verifications(sessions: Sessions) -> int:
    """Transactions with more than one verification record (a verify retried after commit)."""
    async with unit_of_work(sessions) as session:
        counts = await session.scalars(
            select(func.count())
            .select_from(VerificationRecord)
            .group_by(VerificationRecord.transaction_id)
        )
        return sum(1 for count in counts if count > 1)


async def test_purchases_survive_worker_sigkills(
    private_postgres_url: str, temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(2**32)))
    run = Run(rng=random.Random(seed))
    async with crash_rig(
        private_postgres_url,
        temporal_dev,
        tmp_path,
        purchase_delivery_timeout=WINDOW_SECONDS,
        db_pool_size=20,
    ) as rig:
        api, client, sessions, worker = rig.api, rig.client, rig.sessions, rig.worker
        sellers = [await register(api) for _ in range(SELLERS)]
        buyers = [await register(api) for _ in range(BUYERS)]
        purchases = await _purchases(api, run, sellers, buyers)
        start = await balances(sessions)
        worker.start()
        began = asyncio.get_running_loop().time()
        drivers = [
            _drive(run, run.rng.uniform(0, STAGGER_SECONDS), purchase) for purchase in purchases
        ]
        await asyncio.gather(_chaos(run, worker), *drivers)
        driven = asyncio.get_running_loop().time() - began

        workflow_ids = [tx.workflow_id for tx in await _transactions(sessions)]
        assert len(workflow_ids) == sum(MIX.values())
        closed = await wait_closed(client, workflow_ids, worker, CLOSE_TIMEOUT)
        settled = asyncio.get_running_loop().time() - began
        context = f"seed {seed}; worker log:\n{worker.tail()}"
        context += "\n" + await unclosed(client, workflow_ids, closed)
        open_ids = set(workflow_ids) - closed.keys()
        assert not open_ids, f"{len(open_ids)} purchases still running; {context}"
        assert set(closed.values()) == {WorkflowExecutionStatus.COMPLETED}, context
        assert await still_running(client, PURCHASE_TYPES) == [], context
        rows = await _transactions(sessions)
        stuck = Counter(tx.status for tx in rows if tx.status not in FINAL)
        assert not stuck, f"transactions left open: {stuck}"
        await _check_results(client, rows, run, context)
        await _check_ledger(sessions, rows, start, buyers)
        assert len(run.kills_in_flight) == KILLS
        assert sum(1 for n in run.kills_in_flight if n > 0) >= 5, run.kills_in_flight
        assert worker.unexpected_exits == [], context
        duplicates = await _duplicate_verifications(sessions)
        print(
            f"\ncrash test: seed {seed}; drivers done after {driven:.0f}s, every workflow "
            f"closed after {settled:.0f}s; {KILLS} SIGKILLs with {run.kills_in_flight} "
            f"purchases in flight; outcomes {dict(Counter(tx.status for tx in rows))}; "
            f"transactions with duplicate verification records: {duplicates}"
        )
