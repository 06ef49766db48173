"""The outbox is read in commit order: an event whose transaction commits late is never skipped."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from domain import events
from domain.events import envelope, types  # noqa: F401  (as events.envelope, events.types)

Sessions = async_sessionmaker[AsyncSession]
PROBE = events.EventType.LISTING_CREATED


@pytest.fixture
async def outbox(private_postgres_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(private_postgres_url)
    yield session_factory(engine)
    await engine.dispose()


async def _read(sessions: Sessions, cursor: events.Cursor) -> tuple[list[str], events.Cursor]:
    async with unit_of_work(sessions) as session:
        batch = await events.after(session, cursor)
    seen = [str(e.payload["n"]) for e in batch]
    return seen, events.cursor_of(batch[-1]) if batch else cursor


async def _read_soon(sessions: Sessions, cursor: events.Cursor) -> tuple[list[str], events.Cursor]:
    """The first batch after `cursor` within 5 s: a transaction in flight anywhere on the server
    (another test's) holds every later event back until it ends."""
    for _ in range(100):
        seen, after = await _read(sessions, cursor)
        if seen:
            break
        await asyncio.sleep(0.05)
    return seen, after


async def test_a_late_commit_is_read_after_an_earlier_one_not_skipped(outbox: Sessions) -> None:
    async with unit_of_work(outbox) as session:
        start = await events.latest(session)
    slow = outbox()
    await slow.begin()
    slow.add(events.announcement(PROBE, {"n": 1}))  # written now, not as it commits:
    await slow.flush()  # sequence 1 taken, not committed
    async with unit_of_work(outbox) as session:
        events.emit(session, PROBE, {"n": 2})  # sequence 2, committed first
    seen, cursor = await _read(outbox, start)
    assert seen == []  # 2 waits: 1 could still commit below it
    await slow.commit()
    await slow.close()
    seen, cursor = await _read_soon(outbox, cursor)
    assert seen == ["1", "2"]
    assert (await _read(outbox, cursor))[0] == []


async def test_an_aborted_transaction_holds_nothing_back(outbox: Sessions) -> None:
    async with unit_of_work(outbox) as session:
        start = await events.latest(session)
    doomed = outbox()
    await doomed.begin()
    doomed.add(events.announcement(PROBE, {"n": "lost"}))
    await doomed.flush()
    async with unit_of_work(outbox) as session:
        events.emit(session, PROBE, {"n": "kept"})
    await doomed.rollback()
    await doomed.close()
    assert (await _read_soon(outbox, start))[0] == ["kept"]


async def test_many_writers_in_any_commit_order_lose_nothing(outbox: Sessions) -> None:
    async with unit_of_work(outbox) as session:
        cursor = await events.latest(session)
    writers = [outbox() for _ in range(6)]
    for n, writer in enumerate(writers):
        await writer.begin()
        events.emit(writer, PROBE, {"n": n})
        await writer.flush()
    seen: list[str] = []
    for writer in reversed(writers):  # commit in the reverse of the sequence order
        await writer.commit()
        await writer.close()
        batch, cursor = await _read(outbox, cursor)
        seen += batch
    seen += (await _read(outbox, cursor))[0]
    assert sorted(seen) == [str(n) for n in range(6)] and len(seen) == 6


async def test_retention_purges_old_events(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        old = events.emit(session, PROBE, {"n": "old"})
        old.created_at = utcnow() - timedelta(days=8)
        new = events.emit(session, PROBE, {"n": "new"})
    async with unit_of_work(sessions) as session:
        assert await events.purge_before(session, utcnow() - timedelta(days=7)) >= 1
        assert await events.find(session, old.id) is None
        assert await events.find(session, new.id) is not None
    await engine.dispose()


def test_every_event_type_has_a_visibility() -> None:
    assert set(events.types.VISIBILITY) == set(events.EventType)


async def test_a_private_event_needs_its_audience(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError, match="audience"):
            events.emit(session, events.EventType.TOKEN_TRANSFER, {})


def test_money_leaves_as_decimal_strings() -> None:
    shown = events.envelope.present(
        {"price_units": 5_000, "amount_units": 4_900, "fee_units": 100, "nested": {"x_units": 1}}
    )
    assert shown == {
        "price_usdc": "0.005000",
        "amount_ard": "4.900",
        "fee_ard": "0.100",
        "nested": {"x_ard": "0.001"},
    }
