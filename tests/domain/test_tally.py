"""The tally (ADR 0038): every closed purchase is folded into reputation and trade counters once,
whoever folds it, however the folds interleave or fail. Both databases.

The purchases close through the domain steps the activities run: four completed (three by one
buyer, one by the other), one disputed after delivery, one expired after payment and one failed
before it (which counts as a close for nobody's figures but the tally's cursor).
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import unit_of_work
from core.settings import Settings
from domain import agents, listings, purchases, reputation
from domain.content.store import open_store
from domain.purchases import tally
from models.analytics import AgentTrade
from models.listings import DataListing
from models.reputation import AgentStats
from workflows.contracts.purchase import PurchaseStatus

Sessions = async_sessionmaker[AsyncSession]
S = PurchaseStatus
PRICE = 5_000
WINDOW = 60


async def _drained(sessions: Sessions, batch: int = tally.BATCH) -> None:
    """Fold every closed purchase not folded yet (earlier tests of this database leave some)."""
    while True:
        async with unit_of_work(sessions) as session:
            if not await tally.advance(session, WINDOW, limit=batch):
                return


async def _market(sessions: Sessions, settings: Settings, tmp_path: Path) -> dict[str, uuid.UUID]:
    """A seller with one listing and two buyers, and their seven purchases, closed; nothing
    folded yet."""
    store = open_store(str(tmp_path / "content"))
    profile = agents.AgentProfile()
    async with unit_of_work(sessions) as session:
        seller = await agents.register(session, f"s-{uuid.uuid4().hex[:8]}", "both", profile, 0)
        first = await agents.register(session, f"a-{uuid.uuid4().hex[:8]}", "both", profile, 10**9)
        second = await agents.register(session, f"b-{uuid.uuid4().hex[:8]}", "both", profile, 10**9)
        draft = listings.Draft("t", "web_search", b"result", "text/plain", PRICE)
        [item] = await listings.publish(session, store, seller.id, [draft])
    closings = [
        (first.id, S.COMPLETED),
        (first.id, S.COMPLETED),
        (first.id, S.COMPLETED),
        (second.id, S.COMPLETED),
        (first.id, S.DISPUTED),
        (second.id, S.EXPIRED),
        (second.id, S.FAILED),
    ]
    for buyer, close in closings:
        await _close(sessions, settings, buyer, item, close)
    return {"seller": seller.id, "first": first.id, "second": second.id, "listing": item.id}


async def _close(
    sessions: Sessions, settings: Settings, buyer: uuid.UUID, item: DataListing, close: S
) -> None:
    """A purchase taken to `close`, each step in a unit of work of its own, as activities run."""
    steps: list[Callable[[AsyncSession, uuid.UUID], Awaitable[object]]] = []
    if close != S.FAILED:
        steps.append(purchases.pay)
    if close in (S.COMPLETED, S.DISPUTED):
        steps.append(lambda session, tx: purchases.deliver(session, tx, item.content_hash))
    if close == S.COMPLETED:
        steps.append(lambda session, tx: purchases.settle(session, tx, settings))
    else:
        steps.append(lambda session, tx: purchases.release(session, tx, close, "test"))
    async with unit_of_work(sessions) as session:
        opened, _ = await purchases.open_purchase(session, uuid.uuid4(), buyer, str(item.id), False)
    for step in steps:
        async with unit_of_work(sessions) as session:
            await step(session, opened.id)


async def _assert_counted_once(sessions: Sessions, cast: dict[str, uuid.UUID]) -> None:
    parties = [cast["seller"], cast["first"], cast["second"]]
    async with unit_of_work(sessions) as session:
        stats = {
            s.agent_id: s
            for s in await session.scalars(
                select(AgentStats).where(AgentStats.agent_id.in_(parties))
            )
        }
        trade = {
            t.agent_id: t
            for t in await session.scalars(
                select(AgentTrade).where(AgentTrade.agent_id.in_(parties))
            )
        }
        accessed = await session.scalar(
            select(DataListing.access_count).where(DataListing.id == cast["listing"])
        )
    seller = stats[cast["seller"]]
    assert (seller.sales_paid, seller.sales_delivered) == (6, 5)
    assert (seller.sales_completed, seller.sales_disputed) == (4, 1)
    assert seller.volume_units == 4 * PRICE
    assert seller.composite == reputation.composite(seller, WINDOW)
    assert (stats[cast["first"]].purchases, stats[cast["second"]].purchases) == (4, 1 + 1)
    sold = trade[cast["seller"]]
    assert (sold.sales, sold.unique_buyers, sold.listing_accesses) == (4, 2, 4)
    assert 0 < sold.earned_units < 4 * PRICE  # the price less its fees
    assert (trade[cast["first"]].purchases, trade[cast["first"]].spent_units) == (3, 3 * PRICE)
    assert (trade[cast["second"]].purchases, trade[cast["second"]].spent_units) == (1, PRICE)
    assert (sold.active_listings, str(sold.avg_quality)) == (1, "0.500")
    assert accessed == 4


async def test_concurrent_folds_count_each_closed_purchase_once(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    await _drained(sessions)
    cast = await _market(sessions, settings, tmp_path)
    # four followers in batches of two, so they take turns over the purchases
    await asyncio.gather(*(_drained(sessions, batch=2) for _ in range(4)))
    await _assert_counted_once(sessions, cast)
    await _drained(sessions)  # nothing left: nothing changes
    await _assert_counted_once(sessions, cast)


async def test_a_fold_that_fails_counts_nothing(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    await _drained(sessions)
    cast = await _market(sessions, settings, tmp_path)
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            assert await tally.advance(session, WINDOW) == 7
            raise RuntimeError("the worker died before the commit")
    async with unit_of_work(sessions) as session:
        assert await session.get(AgentStats, cast["seller"]) is None
    await _drained(sessions)
    await _assert_counted_once(sessions, cast)
