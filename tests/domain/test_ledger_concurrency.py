"""Races on real PostgreSQL: no overdraft, no deadlock reaching a caller, no forked chain, no
lost lifetime figure, one resolution per hold, one movement per key."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from api.app import create_app
from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.errors import InvalidState, PaymentRequired
from domain import ledger, reputation
from models.ledger import LedgerAccount, LedgerHold, LedgerMovement
from models.purchases import Transaction
from models.reputation import AgentStats
from tests.api.helpers import register
from tests.conftest import make_settings
from tests.ledger_helpers import assert_invariants, balances, mint

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def pg(
    postgres_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Sessions]]:
    settings = make_settings(postgres_url, tmp_path, db_pool_size=10, db_max_overflow=10)
    app = create_app(settings)
    engine = create_engine(postgres_url, pool_size=20, max_overflow=5)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pg") as client:
            yield client, session_factory(engine)
    await engine.dispose()


async def test_200_concurrent_transfers_exactly_n_succeed(
    pg: tuple[httpx.AsyncClient, Sessions],
) -> None:
    api, sessions = pg
    sender, receiver = await register(api), await register(api)
    await mint(sessions, sender["id"], 900_000)  # 1,000 ARD in all
    body = {"to_agent_id": receiver["id"], "amount": "7"}
    responses = await asyncio.gather(
        *(
            api.post("/api/v1/wallet/transfer", headers=sender["headers"], json=body)
            for _ in range(200)
        )
    )
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 142, 402: 58}, codes
    assert {r.json()["code"] for r in responses if r.status_code == 402} == {"insufficient_credits"}
    after = await balances(sessions)
    assert after[sender["id"]] == 1_000_000 - 142 * 7_000
    await assert_invariants(sessions)


async def test_200_concurrent_holds_exactly_n_succeed(
    pg: tuple[httpx.AsyncClient, Sessions],
) -> None:
    api, sessions = pg
    buyer = await register(api)  # 100 ARD
    buyer_id = uuid.UUID(buyer["id"])

    async def place(i: int) -> bool:
        try:
            async with unit_of_work(sessions) as session:
                account = await ledger.open_account(session, "agent", buyer_id)
                await ledger.hold(
                    session, f"test-hold:{buyer_id}:{i}", account.id, 3_000, ("test", str(i))
                )
            return True
        except PaymentRequired:
            return False

    results = await asyncio.gather(*(place(i) for i in range(200)))
    assert sum(results) == 33  # 100 ARD covers 33 holds of 3 ARD
    after = await balances(sessions)
    assert after[buyer["id"]] == 100_000 - 33 * 3_000
    async with unit_of_work(sessions) as session:
        account = await ledger.open_account(session, "agent", buyer_id)
        assert await ledger.held(session, account.id) == 33 * 3_000
    await assert_invariants(sessions)


async def test_opposite_direction_storms_never_deadlock(
    pg: tuple[httpx.AsyncClient, Sessions],
) -> None:
    api, sessions = pg
    a, b = await register(api), await register(api)

    def send(src: dict[str, Any], dst: dict[str, Any]) -> Awaitable[httpx.Response]:
        return api.post(
            "/api/v1/wallet/transfer",
            headers=src["headers"],
            json={"to_agent_id": dst["id"], "amount": "1"},
        )

    responses = await asyncio.gather(*(send(a, b) if i % 2 else send(b, a) for i in range(200)))
    assert {r.status_code for r in responses} == {201}, {
        r.text for r in responses if r.status_code != 201
    }
    after = await balances(sessions)
    # each sent 100 x 1 ARD and received 100 x 0.98 ARD
    assert after[a["id"]] == after[b["id"]] == 100_000 - 100 * 1_000 + 100 * 980
    await assert_invariants(sessions)


async def test_the_audit_agrees_with_itself_while_money_moves(
    pg: tuple[httpx.AsyncClient, Sessions],
) -> None:
    """The scheduled audit reads chain and supply in one snapshot: transfers committing while it
    reads never make a balanced ledger look broken, and it never holds them up."""
    api, sessions = pg
    agents = [await register(api) for _ in range(4)]
    audit = LedgerActivities(sessions).audit
    moving = True

    async def transfers(sender: dict[str, Any], receiver: dict[str, Any]) -> None:
        body = {"to_agent_id": receiver["id"], "amount": "0.5"}
        while moving:
            answer = await api.post("/api/v1/wallet/transfer", headers=sender["headers"], json=body)
            assert answer.status_code == 201, answer.text

    storm = [asyncio.create_task(transfers(agents[n], agents[(n + 1) % 4])) for n in range(4)]
    try:
        reports = [await ActivityEnvironment().run(audit) for _ in range(8)]
    finally:
        moving = False
        await asyncio.gather(*storm)
    assert all(report.valid for report in reports), [r.model_dump() for r in reports]


async def test_one_key_at_once_moves_once(pg: tuple[httpx.AsyncClient, Sessions]) -> None:
    api, sessions = pg
    payer, payee = await register(api), await register(api)
    key = f"test-same:{uuid.uuid4()}"

    async def attempt() -> ledger.Recorded:
        async with unit_of_work(sessions) as session:
            source = await ledger.open_account(session, "agent", uuid.UUID(payer["id"]))
            destination = await ledger.open_account(session, "agent", uuid.UUID(payee["id"]))
            leg = ledger.Leg(source.id, destination.id, 5_000)
            return await ledger.record(session, key, ledger.Movement("transfer", [leg], 5_000))

    outcomes = await asyncio.gather(*(attempt() for _ in range(30)))
    assert sorted(o.replayed for o in outcomes) == [False] + [True] * 29
    assert len({o.movement.id for o in outcomes}) == 1
    after = await balances(sessions)
    assert (after[payer["id"]], after[payee["id"]]) == (95_000, 105_000)
    await assert_invariants(sessions)


async def test_concurrent_volumes_are_never_lost(pg: tuple[httpx.AsyncClient, Sessions]) -> None:
    """Lifetime volumes and tiers are added in the same write as the legs: none go missing."""
    api, sessions = pg
    receiver = await register(api)
    senders = [await register(api) for _ in range(8)]
    body = {"to_agent_id": receiver["id"], "amount": "10"}
    responses = await asyncio.gather(
        *(
            api.post("/api/v1/wallet/transfer", headers=s["headers"], json=body)
            for s in senders
            for _ in range(6)
        )
    )
    assert {r.status_code for r in responses} == {201}
    async with unit_of_work(sessions) as session:
        accounts = {
            a.owner_id: a
            for a in await session.scalars(
                select(LedgerAccount).where(
                    LedgerAccount.owner_id.in_([receiver["id"]] + [s["id"] for s in senders])
                )
            )
        }
    assert accounts[receiver["id"]].total_earned == 48 * 9_800  # 10 ARD less the 2% fee
    assert {
        (accounts[s["id"]].total_spent, accounts[s["id"]].total_fees_paid) for s in senders
    } == {(60_000, 1_200)}
    await assert_invariants(sessions)


async def test_a_hold_resolves_once_however_many_try(
    pg: tuple[httpx.AsyncClient, Sessions],
) -> None:
    api, sessions = pg
    buyer, seller = await register(api), await register(api)
    hold_key = f"test-hold:{uuid.uuid4()}"
    async with unit_of_work(sessions) as session:
        account = await ledger.open_account(session, "agent", uuid.UUID(buyer["id"]))
        await ledger.hold(session, hold_key, account.id, 40_000, ("test", hold_key))

    async def settle() -> str:
        async with unit_of_work(sessions) as session:
            payee = await ledger.open_account(session, "agent", uuid.UUID(seller["id"]))
            escrow = ledger.System.ESCROW.id
            movement = ledger.Movement("purchase", [ledger.Leg(escrow, payee.id, 40_000)], 40_000)
            await ledger.post(session, hold_key, f"{hold_key}:settle", movement)
        return "posted"

    async def release() -> str:
        async with unit_of_work(sessions) as session:
            await ledger.void(session, hold_key, f"{hold_key}:release")
        return "voided"

    async def attempt(step: Callable[[], Awaitable[str]]) -> str:
        try:
            return await step()
        except InvalidState:
            return "refused"

    outcomes = Counter(
        await asyncio.gather(*(attempt(settle if i % 2 else release) for i in range(20)))
    )
    winner = "posted" if outcomes["posted"] else "voided"
    assert outcomes == {winner: 10, "refused": 10}, outcomes  # repeats of the winner replay
    after = await balances(sessions)
    if winner == "posted":
        assert (after[buyer["id"]], after[seller["id"]]) == (60_000, 140_000)
    else:
        assert (after[buyer["id"]], after[seller["id"]]) == (100_000, 100_000)
    async with unit_of_work(sessions) as session:
        held = await session.scalar(
            select(LedgerHold).where(LedgerHold.idempotency_key == hold_key)
        )
        moved = await session.scalar(
            select(func.count())
            .select_from(LedgerMovement)
            .where(LedgerMovement.idempotency_key.like(f"{hold_key}:%"))
        )
    assert held is not None and held.status == winner and moved == 1
    await assert_invariants(sessions)


async def test_closing_purchases_never_lose_reputation(
    pg: tuple[httpx.AsyncClient, Sessions],
) -> None:
    """Every close adds to both parties' records: 24 at once against one seller lose none."""
    api, sessions = pg
    seller = uuid.UUID((await register(api))["id"])
    buyers = [uuid.UUID((await register(api))["id"]) for _ in range(3)]
    paid = utcnow()

    async def close(buyer: uuid.UUID) -> None:
        tx = Transaction(
            seller_id=seller,
            buyer_id=buyer,
            amount_units=1_000,
            status="completed",
            paid_at=paid,
            delivered_at=paid + timedelta(milliseconds=500),
        )
        async with unit_of_work(sessions) as session:
            await reputation.record_closed(session, [tx], 60)

    await asyncio.gather(*(close(b) for b in buyers for _ in range(8)))
    async with unit_of_work(sessions) as session:
        records = {
            s.agent_id: s
            for s in await session.scalars(
                select(AgentStats).where(AgentStats.agent_id.in_([seller, *buyers]))
            )
        }
    mine = records[seller]
    assert (mine.sales_paid, mine.sales_completed, mine.volume_units) == (24, 24, 24_000)
    assert mine.delivery_ms_total == 24 * 500
    assert {records[b].purchases for b in buyers} == {8}
    assert mine.composite == reputation.composite(mine, 60)
