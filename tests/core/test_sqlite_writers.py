"""SQLite writers (core/sqlite_driver.py, core/db.py): a writer holding the write lock never
yields the event loop; one that must wait for another process waits off the loop; the WAL is
checkpointed in the background, outside writers."""

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path}/writers.db")
    factory = db.session_factory(engine)
    async with db.unit_of_work(factory) as session:  # connects: the pool has one from here on
        await session.execute(text("CREATE TABLE notes (body BLOB NOT NULL)"))
    yield factory
    await engine.dispose()


def _size(path: str) -> int:
    return os.path.getsize(path)


def _path(sessions: Sessions) -> str:
    return str(sessions.kw["bind"].url.database)


async def test_a_writer_runs_without_yielding_the_event_loop(sessions: Sessions) -> None:
    ticks: list[str] = []
    asyncio.get_running_loop().call_soon(ticks.append, "tick")
    async with db.unit_of_work(sessions) as session:
        await session.execute(text("INSERT INTO notes (body) VALUES (x'01')"))
        assert await session.scalar(text("SELECT count(*) FROM notes")) == 1
        assert ticks == []  # no other task ran while this one held SQLite's write lock
    await asyncio.sleep(0)
    assert ticks == ["tick"]


async def test_a_writer_behind_another_process_waits_off_the_event_loop(sessions: Sessions) -> None:
    other = sqlite3.connect(_path(sessions), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with db.unit_of_work(sessions) as session:
            await session.execute(text("INSERT INTO notes (body) VALUES (x'02')"))

    ticker = asyncio.create_task(tick())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writer.done()  # it waits for the lock...
    assert ticks >= 10  # ...and the event loop keeps running meanwhile
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writer, 10)
    ticker.cancel()
    async with db.read_only(sessions) as session:
        assert await session.scalar(text("SELECT count(*) FROM notes")) == 1


async def test_a_failed_writer_leaves_nothing_and_frees_the_lock(sessions: Sessions) -> None:
    with pytest.raises(RuntimeError):
        async with db.unit_of_work(sessions) as session:
            await session.execute(text("INSERT INTO notes (body) VALUES (x'03')"))
            raise RuntimeError("the unit of work fails")
    async with db.unit_of_work(sessions) as session:
        assert await session.scalar(text("SELECT count(*) FROM notes")) == 0
        await session.execute(text("INSERT INTO notes (body) VALUES (x'04')"))
    other = sqlite3.connect(_path(sessions), isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # nothing still holds the write lock
    other.execute("ROLLBACK")
    other.close()


async def test_the_wal_is_checkpointed_in_the_background_every_so_many_commits(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "CHECKPOINT_EVERY", 4)  # the table's creation was the first commit
    database = _path(sessions)
    before = _size(database)
    for _ in range(2):
        async with db.unit_of_work(sessions) as session:
            await session.execute(text("INSERT INTO notes (body) VALUES (randomblob(200000))"))
    await asyncio.sleep(0.2)
    assert _size(database) == before  # the commits are in the WAL only
    async with db.unit_of_work(sessions) as session:
        await session.execute(text("INSERT INTO notes (body) VALUES (randomblob(200000))"))
    for _ in range(100):  # the fourth commit started a checkpoint outside the writer
        if _size(database) > before + 600_000:
            break
        await asyncio.sleep(0.05)
    assert _size(database) > before + 600_000
