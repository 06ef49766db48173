"""Core statements of hot paths, run where they cost least (ADR 0045).

Inside a SQLite writer's transaction a statement waits for no one and runs on the event loop's
thread (ADR 0033); there SQLAlchemy's execution around it (the session, the greenlet, the
execution context, the result) costs several times what SQLite takes to answer a keyed query.
`fetch` and `change` run such a statement straight on the writer's connection, compiled once,
its parameters and rows converted by the columns' own types, so the rows are those the session
would have given. Everywhere else (PostgreSQL, a SQLite read) they go through the session.
The sessions never autoflush (`core.db.session_factory`), so skipping the session skips no flush.
A keyed read (`fetch(…, keyed=True)`: every authenticated request's active check) also runs at
once outside a writer on SQLite, unless SQLite would make it wait.
"""

import functools
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.sqlite_driver import Prepared, read_at_once, writer_of

_CONNECTION = "agentchains_connection"  # session.info: (its transaction, its DB-API connection)
_prepare = functools.cache(Prepared.of)  # by statement (hashed by identity; kept alive here)


async def fetch(
    session: AsyncSession, statement: Any, params: dict[str, Any], *, keyed: bool = False
) -> list[Any]:
    """The statement's rows (named tuples on SQLite's connection, `Row`s otherwise). `keyed`: a
    read of a few rows by key, which on SQLite also runs at once outside a writer, unless SQLite
    would make it wait (a search, which may run long, is always handed off: ADR 0032)."""
    connection = await _connection(session)
    if connection is not None:
        writer = writer_of(connection)
        if writer is not None:
            return _prepare(statement).run(writer, params)[0]
        if keyed and (rows := read_at_once(connection, _prepare(statement), params)) is not None:
            return rows
    return list(await session.execute(statement, params))


async def change(session: AsyncSession, statement: Any, params: dict[str, Any]) -> int:
    """An UPDATE or DELETE: how many rows it changed."""
    connection = await _connection(session)
    if connection is not None and (writer := writer_of(connection)) is not None:
        return _prepare(statement).run(writer, params)[1]
    changed: int = (await session.execute(statement, params)).rowcount  # type: ignore[attr-defined]
    return changed


async def _connection(session: AsyncSession) -> Any:
    """The DB-API connection of the session's transaction on SQLite; None on PostgreSQL."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_CONNECTION)
    if transaction is None or held is None or held[0] is not transaction:
        connection = await (await session.connection()).get_raw_connection()
        held = (session.sync_session.get_transaction(), connection.dbapi_connection)
        session.info[_CONNECTION] = held
    return held[1]
