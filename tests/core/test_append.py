"""`core.db.append`: rows a unit of work inserts as it commits, never through the session."""

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import append, read_only, unit_of_work
from models.agents import RegisteredAgent
from models.analytics import AgentTrade
from models.events import Event
from models.listings import SearchSignal

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def kind() -> str:
    """This test's own event type: the database is shared with other tests."""
    return f"probe.{uuid.uuid4().hex}"


def _event(kind: str, n: str) -> Event:
    return Event(id=uuid.uuid4(), type=kind, payload={"n": n}, audience=[])


async def _payloads(sessions: Sessions, kind: str) -> list[str]:
    async with read_only(sessions) as session:
        found = await session.scalars(
            select(Event).where(Event.type == kind).order_by(Event.sequence)
        )
        return [e.payload["n"] for e in found]


async def test_rows_land_as_the_unit_commits_in_order_with_what_they_were_given_last(
    sessions: Sessions, kind: str
) -> None:
    async with unit_of_work(sessions) as session:
        first, second = _event(kind, "1"), _event(kind, "2")
        append(session, first)
        append(session, second)
        first.payload = {"n": "1, changed before the commit"}
        assert not session.new  # never the session's
        assert await _payloads(sessions, kind) == []  # nothing written before the commit
    assert await _payloads(sessions, kind) == ["1, changed before the commit", "2"]


async def test_a_rollback_takes_them_back(sessions: Sessions, kind: str) -> None:
    with pytest.raises(RuntimeError, match="rolled back"):
        async with unit_of_work(sessions) as session:
            append(session, _event(kind, "lost with its unit"))
            raise RuntimeError("rolled back")
    async with sessions() as session:  # one session, rolled back and used again
        await session.begin()
        append(session, _event(kind, "lost with its transaction"))
        await session.rollback()
        await session.begin()
        append(session, _event(kind, "kept"))
        await session.commit()
    assert await _payloads(sessions, kind) == ["kept"]


async def test_rows_of_several_tables_and_shapes_land_after_the_sessions_own(
    sessions: Sessions, kind: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    async with unit_of_work(sessions) as session:
        append(session, _event(kind, "a"))
        append(session, Event(id=uuid.uuid4(), type=kind, payload={"n": "b"}))
        signal = SearchSignal(query=tag, pattern=tag, requester=f"agent:{tag}", matched_count=1)
        append(session, signal)
        agent = uuid.uuid4()  # an appended row that refers to one the session adds after it
        append(session, AgentTrade(agent_id=agent))
        session.add(RegisteredAgent(id=agent, name=f"append-{tag}", agent_type="buyer"))
    assert await _payloads(sessions, kind) == ["a", "b"]
    signals = select(func.count()).where(SearchSignal.query == tag)
    traders = select(func.count()).where(AgentTrade.agent_id == agent)
    async with read_only(sessions) as session:
        assert await session.scalar(signals) == await session.scalar(traders) == 1


async def test_inside_a_savepoint_it_is_refused(sessions: Sessions, kind: str) -> None:
    async with unit_of_work(sessions) as session:
        append(session, _event(kind, "before"))
        async with session.begin_nested():
            with pytest.raises(RuntimeError, match="savepoint"):
                append(session, _event(kind, "inside"))
        append(session, _event(kind, "after"))  # a savepoint's release writes nothing yet
    assert await _payloads(sessions, kind) == ["before", "after"]
