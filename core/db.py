"""Async engine and session factory for SQLite (embedded default) and PostgreSQL (production).

One unit of work per request or activity: `unit_of_work()` commits on success and rolls back on
error; domain code only flushes. `read_only()` is for units that only read.

SQLite has one writer at a time. Writers begin `IMMEDIATE` (they queue instead of failing
halfway), and within a process they queue on an asyncio lock first: a writer blocked inside
SQLite waits in its busy handler's growing sleeps (up to 100 ms each), one blocked on the lock
is woken the moment the lock is free. While it holds SQLite's lock a writer runs on the event
loop's thread without yielding it, and the WAL is checkpointed outside writers (ADR 0033).
Readers begin deferred and never wait for writers (WAL).
"""

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import psycopg
from psycopg import sql
from sqlalchemy import Select, bindparam, event, exc, func, insert, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from core import sqlite_driver

PING_AFTER_IDLE_S = 2.0
_IDLE_SINCE = "agentchains_idle_since"
READ_ONLY = "agentchains_read_only"  # execution option: "snapshot" or "statement" (see read_only)
_APPENDED = "agentchains_appended"  # session.info: the rows `append` holds until the commit
R = TypeVar("R")
CHECKPOINT_EVERY = 200  # commits of one engine in this process between two WAL checkpoints
log = logging.getLogger(__name__)


class _Writers:
    """One SQLite engine's writers in this process: they queue on `lock`. Connections do not
    checkpoint the WAL at commit (a writer commits on the event loop's thread, and a checkpoint
    syncs files); every CHECKPOINT_EVERY commits one runs in the background instead, on a
    connection's own thread, outside any writer (PASSIVE: it waits for no one)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None

    def committed(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.create_task(checkpoint(factory))


async def checkpoint(factory: async_sessionmaker[AsyncSession]) -> None:
    """Copy what the WAL holds into the database file, as far as readers allow."""
    try:
        async with factory() as session:
            connection = await session.connection(execution_options={READ_ONLY: "statement"})
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception:  # the next one will cover it
        log.warning("WAL checkpoint failed", exc_info=True)


_writers: "weakref.WeakKeyDictionary[AsyncEngine, _Writers]" = weakref.WeakKeyDictionary()


def ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(
    database_url: str, *, pool_size: int = 5, max_overflow: int = 10, autocommit: bool = False
) -> AsyncEngine:
    """`autocommit` (PostgreSQL): every statement is its own transaction."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        ensure_sqlite_directory(database_url)
        if url.drivername == "sqlite+aiosqlite":
            url = url.set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
        engine = create_async_engine(
            url,
            connect_args={
                "timeout": sqlite_driver.BUSY_TIMEOUT_MS / 1000,
                "isolation_level": None,
                "check_same_thread": False,  # a writer's statements run on the caller's thread
            },
        )
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: AsyncEngine) -> None:
    """A pooled connection idle for PING_AFTER_IDLE_S is pinged before it is handed out, and a
    dead one is replaced (the pool's pre-ping, which pings at every checkout: a round trip per
    unit of work). One busier than that was alive a moment ago; if the server dropped it since,
    its unit of work fails as one in flight would, and the pool is renewed."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new (just connected), or busy
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            raise exc.InvalidatePoolError("pooled connection lost while idle") from error


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, busy timeout, foreign keys; and BEGIN IMMEDIATE so writers queue instead of failing."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={sqlite_driver.BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run outside writers
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        reads = connection.get_execution_options().get(READ_ONLY)
        if reads == "statement":
            return  # each statement is its own read (SQLite's autocommit), as READ COMMITTED
        connection.exec_driver_sql("BEGIN" if reads else sqlite_driver.WRITER_BEGINS)

    _writers[engine] = _Writers()


class _UnitSession(Session):
    """A unit of work's session: the rows `append` gave it are inserted as it commits."""


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=_UnitSession
    )


def append(session: AsyncSession, row: Any) -> None:
    """Insert `row`, a new mapped object, when the unit of work commits: after everything else
    it wrote, with the unit's other appended rows in one INSERT per table, and never into the
    session (no identity map, no flush bookkeeping: a sixth of an express buy's database CPU).
    For rows written once and not read back by the unit that writes them (the outbox, search
    signals, verification records). Not inside a savepoint, which could not take them back."""
    if session.in_nested_transaction():
        raise RuntimeError("append() inside a savepoint: its rollback could not take the row back")
    session.info.setdefault(_APPENDED, []).append(row)


@event.listens_for(_UnitSession, "before_commit")
def _insert_appended(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's release: the rows wait for the unit's own commit
    appended = session.info.pop(_APPENDED, None)
    if not appended:
        return
    session.flush()  # what they may refer to is written first
    runs: dict[Any, list[list[dict[str, Any]]]] = {}  # per INSERT, runs of rows of one shape
    for row in appended:
        inserting_, columns = _appending(row.__class__)
        given = row.__dict__  # what the row was given: its state's own dict
        values = {c: given[c] for c in columns if c in given}
        table_runs = runs.setdefault(inserting_, [])
        if table_runs and table_runs[-1][0].keys() == values.keys():
            table_runs[-1].append(values)
        else:  # a row of another shape: a statement of its own, so a table keeps their order
            table_runs.append([values])
    connection = session.connection()
    writer = sqlite_driver.writer_of(connection.connection.dbapi_connection)
    for inserting_, table_runs in runs.items():
        for rows in table_runs:
            if writer is None:
                connection.execute(inserting_, rows)
            else:  # straight on SQLite's writer, as SQLAlchemy would insert them (ADR 0045)
                prepared, defaults = _appending_on_sqlite(inserting_.table, tuple(rows[0]))
                writer.executemany(
                    prepared.sql, [prepared.args({**row, **_evaluated(defaults)}) for row in rows]
                )


@functools.cache
def _appending(model: Any) -> tuple[Any, tuple[str, ...]]:
    """The INSERT of a model's table, built once, and its columns' keys."""
    table: Any = inspect(model).local_table
    return insert(table), tuple(c.key for c in table.columns)


@functools.cache
def _appending_on_sqlite(
    table: Any, given: tuple[str, ...]
) -> tuple[sqlite_driver.Prepared, tuple[tuple[str, Any], ...]]:
    """The INSERT of rows given these columns, with the Python-side defaults of the others
    (what SQLAlchemy's own INSERT would add); columns the server fills are left out."""
    defaults = tuple(
        (c.key, c.default)
        for c in table.columns
        if c.key not in given
        and c.default is not None
        and (c.default.is_scalar or c.default.is_callable)
    )
    columns = [*given, *(key for key, _ in defaults)]
    return sqlite_driver.Prepared.inserting(table, columns), defaults


def _evaluated(defaults: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {key: d.arg(None) if d.is_callable else d.arg for key, d in defaults}


@event.listens_for(_UnitSession, "after_transaction_end")
def _drop_appended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the unit ended without committing them: they go with it
        session.info.pop(_APPENDED, None)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    writers = _writers.get(factory.kw.get("bind"))  # type: ignore[arg-type]
    if writers is None:
        async with factory() as session, session.begin():
            yield session
        return
    # The lock is released as the commit ends, before the session closes (closing yields).
    async with factory() as session, writers.lock, session.begin():
        yield session
    writers.committed(factory)


@asynccontextmanager
async def read_only(
    factory: async_sessionmaker[AsyncSession], *, snapshot: bool = False
) -> AsyncIterator[AsyncSession]:
    """A unit that only reads: nothing is committed, and on SQLite it never waits for writers.
    `snapshot`: every statement sees the same moment (REPEATABLE READ on PostgreSQL, a read
    transaction on SQLite), for figures that must agree with each other; without it each
    statement sees the latest commit (READ COMMITTED; on SQLite no transaction is begun)."""
    options: dict[str, Any] = {READ_ONLY: "snapshot" if snapshot else "statement"}
    if snapshot and factory.kw["bind"].dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    async with factory() as session:  # closing it ends the transaction; what it read stays loaded
        await session.connection(execution_options=options)
        yield session


def upsert(session: AsyncSession, table: Any) -> Any:
    """An INSERT into `table` that can say ON CONFLICT, in the session's database's dialect
    (PostgreSQL's or SQLite's: both spell it the same)."""
    return inserting(session.get_bind().dialect.name, table)


def inserting(dialect: str, table: Any) -> Any:
    """`upsert` for a dialect named in advance, to build a statement once per database kind."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


@asynccontextmanager
async def held_rows(
    session: AsyncSession, model: type[R], keys: Collection[Any]
) -> AsyncIterator[dict[Any, R]]:
    """The rows of `model` with these primary keys, locked until the commit, as copies the
    block changes; what it changed is written back in one UPDATE when it ends. A missing row is
    created first, of the columns' defaults. One statement creates, locks and reads them all, in
    key order (INSERT … ON CONFLICT DO UPDATE of the key to itself … RETURNING), so two
    transactions never wait on each other crosswise, whichever rows exist yet. The copies are
    not the session's: these counters are never loaded as objects in the unit of work that
    moves them."""
    held_statements = _held(session.get_bind().dialect.name, inspect(model).local_table)
    ordered = [{held_statements.key: k} for k in sorted(set(keys))]
    taken = await session.execute(held_statements.take, ordered)
    # Plain copies, not the model's instances: a mapped object costs its instrumentation here.
    held = {row[held_statements.key]: cast(R, SimpleNamespace(**row)) for row in taken.mappings()}
    yield held
    columns = held_statements.columns
    await session.execute(
        held_statements.write,
        [{f"_{c}": getattr(row, c) for c in columns} for row in held.values()],
    )


@dataclass(frozen=True)
class _Held:
    key: str
    columns: tuple[str, ...]
    take: Any
    write: Any


@functools.cache
def _held(dialect: str, table: Any) -> _Held:
    """`held_rows`' statements for `table`, built once per database kind. Setting the key to
    itself changes nothing but takes the row's lock (PostgreSQL keeps it a HOT update)."""
    key = table.primary_key.columns.values()[0]
    upsert_ = inserting(dialect, table)
    return _Held(
        key.key,
        tuple(c.key for c in table.columns),
        upsert_.on_conflict_do_update(
            index_elements=[key], set_={key.key: upsert_.excluded[key.key]}
        ).returning(*table.columns),
        update(table)
        .where(key == bindparam(f"_{key.key}"))
        .values({c.key: bindparam(f"_{c.key}") for c in table.columns if c is not key}),
    )


def sync_url(database_url: str) -> str:
    """The same database for synchronous tools (Alembic): aiosqlite becomes pysqlite."""
    url = make_url(database_url)
    if url.drivername == "sqlite+aiosqlite":
        url = url.set(drivername="sqlite")
    return url.render_as_string(hide_password=False)


async def paginate(
    session: AsyncSession, query: Select[Any], *order: Any, page: int, page_size: int
) -> tuple[int, list[Any]]:
    """The total number of rows and one page of them (pages count from 1)."""
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(*order).offset((page - 1) * page_size).limit(page_size)
    )
    return int(total or 0), list(rows)


async def own_connection(database_url: str) -> psycopg.AsyncConnection[Any]:
    """A PostgreSQL connection of the caller's own, outside any pool, on which every statement is
    its own transaction."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    return await psycopg.AsyncConnection.connect(dsn, autocommit=True)


async def notifications(database_url: str, channel: str) -> AsyncIterator[str]:
    """The payloads NOTIFY'd on `channel` (PostgreSQL), as they arrive, on a connection of
    their own; the iteration ends with an error when that connection is lost."""
    async with await own_connection(database_url) as connection:
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        async for notice in connection.notifies():
            yield notice.payload
