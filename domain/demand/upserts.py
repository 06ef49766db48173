"""The rollups' bulk upserts. On PostgreSQL each is one statement over arrays (`unnest`), so a
batch of 10,000 signals costs a few round trips; elsewhere (SQLite) an executemany of the same
INSERT … ON CONFLICT."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from models.demand import Demand, DemandHour, DemandRequester

TOTALS = ("searches", "fulfilled", "purchases", "price_total", "priced")
Hour = tuple[str, datetime, int, int, int, int, int]  # pattern, hour, TOTALS
Pattern = tuple[str, str | None, int, int, int, int, int, int]  # pattern, category, TOTALS, uniq
Sighting = tuple[str, str, datetime]  # pattern, requester, when

_PG_HOURS = text(
    """
    INSERT INTO demand_hours (pattern, hour, searches, fulfilled, purchases, price_total, priced)
    SELECT * FROM unnest(CAST(:c0 AS varchar[]), CAST(:c1 AS timestamptz[]), CAST(:c2 AS int[]),
                         CAST(:c3 AS int[]), CAST(:c4 AS int[]), CAST(:c5 AS bigint[]),
                         CAST(:c6 AS int[]))
    ON CONFLICT (pattern, hour) DO UPDATE SET
        searches = demand_hours.searches + excluded.searches,
        fulfilled = demand_hours.fulfilled + excluded.fulfilled,
        purchases = demand_hours.purchases + excluded.purchases,
        price_total = demand_hours.price_total + excluded.price_total,
        priced = demand_hours.priced + excluded.priced
    """
)
_PG_PATTERNS = text(
    """
    INSERT INTO demand (pattern, category, searches, fulfilled, purchases, price_total, priced,
                        requesters, velocity, fulfillment_rate, conversion_rate,
                        avg_max_price_units, is_gap, spiking, dirty, updated_at)
    SELECT t.*, 0, 0, 0, 0, false, false, true, CAST(:now AS timestamptz)
    FROM unnest(CAST(:c0 AS varchar[]), CAST(:c1 AS varchar[]), CAST(:c2 AS int[]),
                CAST(:c3 AS int[]), CAST(:c4 AS int[]), CAST(:c5 AS bigint[]), CAST(:c6 AS int[]),
                CAST(:c7 AS int[])) AS t
    ON CONFLICT (pattern) DO UPDATE SET
        category = coalesce(excluded.category, demand.category),
        searches = demand.searches + excluded.searches,
        fulfilled = demand.fulfilled + excluded.fulfilled,
        purchases = demand.purchases + excluded.purchases,
        price_total = demand.price_total + excluded.price_total,
        priced = demand.priced + excluded.priced,
        requesters = demand.requesters + excluded.requesters,
        dirty = true
    """
)
_PG_REQUESTERS = text(
    """
    INSERT INTO demand_requesters (pattern, requester, last_seen)
    SELECT * FROM unnest(CAST(:c0 AS varchar[]), CAST(:c1 AS varchar[]),
                         CAST(:c2 AS timestamptz[]))
    ON CONFLICT (pattern, requester) DO UPDATE SET
        previous_seen = demand_requesters.last_seen,
        last_seen = greatest(demand_requesters.last_seen, excluded.last_seen)
    RETURNING pattern, previous_seen
    """
)


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _columns(rows: list[Any]) -> dict[str, list[Any]]:
    return {f"c{i}": list(column) for i, column in enumerate(zip(*rows, strict=True))}


async def add_hours(session: AsyncSession, rows: list[Hour]) -> None:
    if not rows:
        return
    if _postgres(session):
        await session.execute(_PG_HOURS, _columns(rows))
        return
    table = DemandHour.__table__
    insert = upsert(session, table)
    added = {n: table.c[n] + insert.excluded[n] for n in TOTALS}
    statement = insert.on_conflict_do_update(index_elements=["pattern", "hour"], set_=added)
    await session.execute(
        statement, [dict(zip(("pattern", "hour", *TOTALS), r, strict=True)) for r in rows]
    )


async def add_patterns(session: AsyncSession, rows: list[Pattern], now: datetime) -> None:
    """Add to each pattern's totals (negative: taken out) and mark it for new figures."""
    if not rows:
        return
    if _postgres(session):
        await session.execute(_PG_PATTERNS, {**_columns(rows), "now": now})
        return
    table = Demand.__table__
    insert = upsert(session, table)
    added = {n: table.c[n] + insert.excluded[n] for n in (*TOTALS, "requesters")}
    added["dirty"] = True
    added["category"] = func.coalesce(insert.excluded.category, table.c.category)
    statement = insert.on_conflict_do_update(index_elements=["pattern"], set_=added)
    names = ("pattern", "category", *TOTALS, "requesters")
    fixed = {
        "velocity": 0,
        "fulfillment_rate": 0,
        "conversion_rate": 0,
        "avg_max_price_units": 0,
        "is_gap": False,
        "spiking": False,
        "dirty": True,
        "updated_at": now,
    }
    await session.execute(statement, [dict(zip(names, r, strict=True)) | fixed for r in rows])


async def see_requesters(
    session: AsyncSession, rows: list[Sighting]
) -> list[tuple[str, datetime | None]]:
    """Record each sighting; answer each pair's sighting before it (None: never seen)."""
    if not rows:
        return []
    if _postgres(session):
        answered = await session.execute(_PG_REQUESTERS, _columns(rows))
        return [(pattern, previous) for pattern, previous in answered]
    table = DemandRequester.__table__
    insert = upsert(session, table)
    statement = insert.on_conflict_do_update(
        index_elements=["pattern", "requester"],
        set_={
            "previous_seen": table.c.last_seen,
            "last_seen": func.max(table.c.last_seen, insert.excluded.last_seen),
        },
    ).returning(table.c.pattern, table.c.previous_seen)
    found: list[tuple[str, datetime | None]] = []
    for row in rows:  # one at a time: SQLite's RETURNING does not batch
        pattern, requester, seen = row
        answered = await session.execute(
            statement, {"pattern": pattern, "requester": requester, "last_seen": seen}
        )
        found.extend((p, previous) for p, previous in answered)
    return found
