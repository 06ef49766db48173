"""`read_only` on PostgreSQL: without `snapshot` each statement is its own transaction (no BEGIN
or ROLLBACK round trip); with it every statement sees one moment; and a read that begins a
transaction of its own (discovery's text search) leaves the pooled connection as it found it."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from domain.listings import discovery

Sessions = async_sessionmaker[AsyncSession]
ITS_OWN = text("SELECT now() = statement_timestamp()")  # the transaction began with the statement


@pytest.fixture
async def one_connection(postgres_url: str) -> AsyncIterator[Sessions]:
    """Sessions over a pool of one connection: every unit below uses the same one."""
    engine = db.create_engine(postgres_url, pool_size=1, max_overflow=0)
    yield db.session_factory(engine)
    await engine.dispose()


async def _began(session: AsyncSession) -> datetime:
    began: datetime = await session.scalar(text("SELECT now()"))
    await asyncio.sleep(0.02)
    return began


async def test_each_statement_of_a_read_is_its_own_transaction(one_connection: Sessions) -> None:
    async with db.read_only(one_connection) as session:
        await _began(session)
        assert await session.scalar(ITS_OWN) is True


async def test_a_snapshot_read_and_a_unit_of_work_stay_in_one_transaction(
    one_connection: Sessions,
) -> None:
    async with db.read_only(one_connection, snapshot=True) as session:
        began = await _began(session)
        assert await session.scalar(text("SELECT now()")) == began
    async with db.unit_of_work(one_connection) as session:
        began = await _began(session)
        assert await session.scalar(text("SELECT now()")) == began


async def test_a_text_search_leaves_the_pooled_connection_as_it_found_it(
    one_connection: Sessions,
) -> None:
    async with db.read_only(one_connection) as session:
        await discovery.discover(session, discovery.Search(q="python asyncio"))
        assert await session.scalar(text("SHOW enable_seqscan")) == "off"
        assert await session.scalar(ITS_OWN) is False  # inside the search's transaction
    async with db.read_only(one_connection) as session:
        assert await session.scalar(text("SHOW enable_seqscan")) == "on"
        await _began(session)
        assert await session.scalar(ITS_OWN) is True
    async with db.unit_of_work(one_connection) as session:  # and it writes in a transaction
        began = await _began(session)
        assert await session.scalar(text("SELECT now()")) == began
