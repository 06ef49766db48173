"""Races on real PostgreSQL: no overdraft, no deadlock reaching a caller, no forked chain."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from api.app import create_app
from core.db import create_engine, session_factory, unit_of_work
from core.errors import PaymentRequired
from domain import ledger
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
