"""Core statements of hot paths, run where they cost least (ADR 0045).

Inside a SQLite writer's transaction a statement waits for no one and runs on the event loop's
thread (ADR 0033); there SQLAlchemy's execution around it (the session, the greenlet, the
execution context, the result) costs several times what SQLite takes to answer a keyed query.
`fetch` and `change` run such a statement straight on the writer's connection, compiled once,
its parameters and rows converted by the columns' own types, so the rows are those the session
would have given. Everywhere else (PostgreSQL, a SQLite read) they go through the session.
The sessions never autoflush (`core.db.session_factory`), so skipping the session skips no flush.
"""

import sqlite3
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.sqlite_driver import Prepared, writer_of

_CONNECTION = "agentchains_connection"  # session.info: (its transaction, its DB-API connection)
_prepared: dict[int, tuple[Any, Prepared]] = {}  # by statement; the statement is kept alive


async def fetch(session: AsyncSession, statement: Any, params: dict[str, Any]) -> list[Any]:
    """The statement's rows (named tuples on a SQLite writer, `Row`s otherwise)."""
    writer = await _writer(session)
    if writer is not None:
        return _prepare(statement).run(writer, params)[0]
    return list(await session.execute(statement, params))


async def change(session: AsyncSession, statement: Any, params: dict[str, Any]) -> int:
    """An UPDATE or DELETE: how many rows it changed."""
    writer = await _writer(session)
    if writer is not None:
        return _prepare(statement).run(writer, params)[1]
    changed: int = (await session.execute(statement, params)).rowcount  # type: ignore[attr-defined]
    return changed


async def _writer(session: AsyncSession) -> sqlite3.Connection | None:
    """The SQLite connection of the session's transaction while it writes; None otherwise."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_CONNECTION)
    if transaction is None or held is None or held[0] is not transaction:
        connection = await (await session.connection()).get_raw_connection()
        held = (session.sync_session.get_transaction(), connection.dbapi_connection)
        session.info[_CONNECTION] = held
    return writer_of(held[1])


def _prepare(statement: Any) -> Prepared:
    kept = _prepared.get(id(statement))
    if kept is None or kept[0] is not statement:
        kept = _prepared[id(statement)] = (statement, Prepared.of(statement))
    return kept[1]
