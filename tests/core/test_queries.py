"""`core.queries`: a hot path's statements straight on a SQLite writer's connection, with the
rows the session would have given; through the session everywhere else."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import append, read_only, unit_of_work
from core.queries import change, fetch
from models.events import Event
from models.listings import SearchSignal

Sessions = async_sessionmaker[AsyncSession]
_SIGNALS = select(
    SearchSignal.id,
    SearchSignal.query,
    SearchSignal.category,
    SearchSignal.matched_count,
    SearchSignal.led_to_purchase,
    SearchSignal.max_price_units,
    SearchSignal.created_at,
    SearchSignal.converted_at,
).where(SearchSignal.requester.in_(bindparam("requesters", expanding=True)))
_CONVERT = (
    update(SearchSignal)
    .where(SearchSignal.requester == bindparam("searcher"))
    .values(led_to_purchase=True, converted_at=bindparam("at"))
)
_EVENTS = select(Event.id, Event.audience, Event.payload, Event.created_at).where(
    Event.type == bindparam("type")
)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The statements SQLAlchemy sends to any database while the test runs."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield sent
    event.remove(Engine, "before_cursor_execute", record)


async def _signals(sessions: Sessions, tag: str) -> list[str]:
    requesters = [f"agent:{tag}:{n}" for n in range(3)]
    async with unit_of_work(sessions) as session:
        for n, requester in enumerate(requesters):
            category = None if n else "web_search"
            max_price = 5_000 * n or None
            session.add(
                SearchSignal(
                    query=f"{tag} {n}", requester=requester, category=category,
                    matched_count=n, max_price_units=max_price,
                )
            )  # fmt: skip
    return requesters


async def test_a_writer_reads_the_rows_the_session_would_read_without_sqlalchemy(
    sessions: Sessions, statements: list[str]
) -> None:
    requesters = await _signals(sessions, uuid.uuid4().hex[:8])
    asked = {"requesters": requesters[:2]}  # an IN of a list: rendered for its length
    async with unit_of_work(sessions) as session:
        await session.connection()  # the writer's transaction has begun
        statements.clear()
        rows = await fetch(session, _SIGNALS, asked)
        sent = list(statements)
        through_the_session = list(await session.execute(_SIGNALS, asked))
    assert sorted(map(tuple, rows)) == sorted(map(tuple, through_the_session))
    assert len(rows) == 2 and {r.query.split()[1] for r in rows} == {"0", "1"}
    first = next(r for r in rows if r.matched_count == 0)
    assert isinstance(first.id, uuid.UUID) and first.category == "web_search"
    assert first.led_to_purchase is False and first.converted_at is None
    assert abs(utcnow() - first.created_at) < timedelta(minutes=1)  # an aware datetime
    on_sqlite = sessions.kw["bind"].dialect.name == "sqlite"
    assert len(sent) == (0 if on_sqlite else 1)


async def test_a_change_says_how_many_rows_it_changed_and_they_are_changed(
    sessions: Sessions,
) -> None:
    requesters = await _signals(sessions, uuid.uuid4().hex[:8])
    at = utcnow()
    async with unit_of_work(sessions) as session:
        assert await change(session, _CONVERT, {"searcher": requesters[1], "at": at}) == 1
        assert await change(session, _CONVERT, {"searcher": "nobody", "at": at}) == 0
    async with read_only(sessions) as session:
        (converted,) = await fetch(session, _SIGNALS, {"requesters": [requesters[1]]})
    assert converted.led_to_purchase is True and converted.converted_at == at


async def test_outside_a_writer_it_goes_through_the_session(
    sessions: Sessions, statements: list[str]
) -> None:
    requesters = await _signals(sessions, uuid.uuid4().hex[:8])
    async with read_only(sessions) as session:
        statements.clear()
        rows = await fetch(session, _SIGNALS, {"requesters": requesters})
    assert len(rows) == 3 and len(statements) == 1


async def test_appended_rows_get_the_defaults_sqlalchemy_would_give_them(
    sessions: Sessions,
) -> None:
    kind = f"probe.{uuid.uuid4().hex}"
    async with unit_of_work(sessions) as session:
        append(session, Event(type=kind))  # id, audience, payload and created_at by default
        append(session, Event(type=kind, payload={"n": 2}, audience=["a"]))
    async with read_only(sessions) as session:
        found = sorted(await fetch(session, _EVENTS, {"type": kind}), key=lambda e: len(e.payload))
    assert [(e.payload, e.audience) for e in found] == [({}, []), ({"n": 2}, ["a"])]
    assert all(isinstance(e.id, uuid.UUID) for e in found) and found[0].id != found[1].id
    assert all(abs(utcnow() - e.created_at) < timedelta(minutes=1) for e in found)


async def test_a_keyed_read_runs_at_once_outside_a_writer(
    sessions: Sessions, statements: list[str]
) -> None:
    requesters = await _signals(sessions, uuid.uuid4().hex[:8])
    asked = {"requesters": requesters[1:]}
    async with read_only(sessions) as session:
        statements.clear()
        rows = await fetch(session, _SIGNALS, asked, keyed=True)
        sent = list(statements)
        through_the_session = list(await session.execute(_SIGNALS, asked))
    assert sorted(map(tuple, rows)) == sorted(map(tuple, through_the_session)) and len(rows) == 2
    on_sqlite = sessions.kw["bind"].dialect.name == "sqlite"
    assert len(sent) == (0 if on_sqlite else 1)
