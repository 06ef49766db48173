"""SQLite for the async engine: aiosqlite, with one hand-off to its thread per statement.

aiosqlite runs every call on its connection's own thread and wakes the event loop after each;
SQLAlchemy's adapter makes four such calls per statement (open a cursor, execute, fetch, close).
On this machine kind a hand-off costs more CPU than SQLite takes to answer a keyed query
(~0.06 ms each, ~0.25 ms a statement), and every API request and activity pays it a dozen times.
This dialect runs the whole statement, rows fetched, in one hand-off. Everything else (pooling,
transactions, types, the URL's options) is SQLAlchemy's aiosqlite dialect, unchanged.

`core.db.create_engine` uses it for every `sqlite+aiosqlite://` URL.
"""

import collections
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, insert
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "aiosqlite_onehop"
WRITER_BEGINS = "BEGIN IMMEDIATE"
BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's
T = TypeVar("T")


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, int, int | None, list[Any]]:
    """On the connection's thread: the statement, its rows and its figures."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _begin_at_once(connection: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE on the caller's thread if SQLite's write lock is free now; False (and no
    transaction) if another process holds it: then it is waited for on the connection's thread."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute(WRITER_BEGINS)
        return True
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # its extended codes too
            raise
        return False
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A finished statement: nothing stays open on the thread, so closing it is free."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection):
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._statement(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._statement(operation, seq_of_parameters, many=True)

    def _statement(self, operation: Any, parameters: Any, many: bool) -> None:
        connection = cast(_Connection, self._adapt_connection)
        try:
            if connection._writing:
                self._keep(_run(connection._connection._conn, operation, parameters, many))
            elif operation == WRITER_BEGINS:
                if not _begin_at_once(connection._connection._conn):
                    await_(self._hand_off(operation, parameters, many))
                connection._writing = True
            else:
                await_(self._hand_off(operation, parameters, many))
        except Exception as error:
            connection._handle_exception(error)

    async def _hand_off(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            done = await connection._execute(_run, connection._conn, operation, parameters, many)
        self._keep(done)

    def _keep(self, done: tuple[Any, int, int | None, list[Any]]) -> None:
        self._description, self._rowcount, self._lastrowid, rows = done
        self._rows = collections.deque(rows)


class _Connection(AsyncAdapt_aiosqlite_connection):
    """`_writing` while it holds SQLite's write lock, from its BEGIN IMMEDIATE to its commit or
    rollback. A writer begins on the caller's thread when the lock is free (on the connection's
    own thread when another process holds it, since that waits), and then runs its statements
    and its commit there too: in WAL mode they wait for no one, and the commit writes to the
    WAL without syncing or checkpointing (checkpoints run outside writers: `core.db`). So a unit
    of work that holds the process's writer lock never yields the event loop to other tasks
    while it holds SQLite's, and the lock is held only for the writer's own work."""

    __slots__ = ("_writing",)
    _cursor_cls = _Cursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._writing = False

    def commit(self) -> None:
        if self._writing:
            self._writing = False
            try:
                self._connection._conn.commit()
            except Exception as error:
                self._handle_exception(error)
            return
        super().commit()

    def rollback(self) -> None:
        """At once: ending a transaction waits for no one (the pool also rolls back every
        connection it takes back, most of them in no transaction at all)."""
        self._writing = False
        try:
            if self._connection._conn.in_transaction:
                self._connection._conn.rollback()
        except Exception as error:
            self._handle_exception(error)


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        return _Connection(self, super().connect(*arg, **kw)._connection)


class OneHopDialect(SQLiteDialect_aiosqlite):
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> _DBAPI:
        return _DBAPI(__import__("aiosqlite"), sqlite3)


registry.register(f"sqlite.{DRIVER}", __name__, "OneHopDialect")
_DIALECT = OneHopDialect()


@dataclass(frozen=True)
class Prepared:
    """A statement compiled once for SQLite, with the conversions its parameters and its rows
    need, to run on a connection's own thread (`on_thread`) as SQLAlchemy would have run it."""

    sql: str
    _compiled: Any
    _processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    _expanding: bool  # an `IN` of a list: its SQL is rendered for each list's length
    _row: Any  # the rows' type: a named tuple of the result's columns
    _results: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, statement: Any) -> "Prepared":
        compiled = statement.compile(dialect=_DIALECT)
        processors = tuple(
            (name, compiled.binds[name].type.bind_processor(_DIALECT))
            for name in compiled.positiontup
        )
        columns = compiled._result_columns  # what SQLAlchemy's own results are read by
        row = collections.namedtuple("Row", [c.keyname for c in columns], rename=True)  # type: ignore[misc]
        results = tuple(c.type._cached_result_processor(_DIALECT, None) for c in columns)
        expanding = any(b.expanding for b in compiled.binds.values())
        return cls(compiled.string, compiled, processors, expanding, row, results)

    @classmethod
    def inserting(cls, table: Any, columns: Sequence[str]) -> "Prepared":
        """An INSERT of one row of these columns, each converted by its column's type."""
        values = {c: bindparam(c, type_=table.c[c].type) for c in columns}
        return cls.of(insert(table).values(values))

    def args(self, values: dict[str, Any]) -> tuple[Any, ...]:
        bound = self._compiled.construct_params(values)
        return tuple(p(bound[n]) if p else bound[n] for n, p in self._processors)

    def run(self, db: sqlite3.Connection, values: dict[str, Any]) -> tuple[list[Any], int]:
        """The statement on `db` now: its rows, of the result's types, and its row count."""
        if self._expanding:
            state = self._compiled.construct_expanded_state(values)
            convert = state.processors
            sql, args = (
                state.statement,
                tuple(
                    convert[n](state.parameters[n]) if n in convert else state.parameters[n]
                    for n in state.positiontup
                ),
            )
        else:
            sql, args = self.sql, self.args(values)
        cursor = db.execute(sql, args)
        found = cursor.fetchall()
        results, row = self._results, self._row
        rows = [row(*(p(v) if p else v for p, v in zip(results, r, strict=True))) for r in found]
        return rows, cursor.rowcount


def read_at_once(connection: Any, prepared: Prepared, values: dict[str, Any]) -> list[Any] | None:
    """A keyed read on the caller's thread, if SQLite can answer it without waiting (in WAL
    mode a reader waits for no writer; it could only for a moment while the WAL is reset): its
    rows; None when it would have had to wait, or the connection is busy on its own thread,
    and then the caller hands it off as any read."""
    if not isinstance(connection, _Connection) or connection._execute_mutex.locked():
        return None
    db = connection._connection._conn
    db.execute("PRAGMA busy_timeout=0")
    try:
        return prepared.run(db, values)[0]
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        return None
    finally:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def writer_of(connection: Any) -> sqlite3.Connection | None:
    """The SQLite connection under a session's DB-API connection while it writes (holds the
    write lock, ADR 0033): a statement on it runs at once and waits for no one."""
    if isinstance(connection, _Connection) and connection._writing:
        return cast(sqlite3.Connection, connection._connection._conn)
    return None


async def on_thread(session: AsyncSession, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` on the session's SQLite connection, in its transaction, on the connection's own
    thread in one hand-off (at once, in a writer's transaction): SQLite's counterpart of one
    call of a server-side function."""
    connection = await session.connection()
    adapted = (await connection.get_raw_connection()).dbapi_connection
    if adapted._writing:  # type: ignore[union-attr]
        return work(adapted._connection._conn)  # type: ignore[union-attr]
    async with adapted._execute_mutex:  # type: ignore[union-attr]
        driver = adapted._connection  # type: ignore[union-attr]
        result: T = await driver._execute(work, driver._conn)
        return result
