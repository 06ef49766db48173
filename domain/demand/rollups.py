"""The aggregation's incremental half: new signals are folded into hourly rollups and into each
pattern's 24 h totals, and what leaves the window is taken out, so a run reads the new signals
and the hour that left, never the whole window again.

A run has a fixed end (`until`, from the workflow) and goes: `begin` (take out what left the
window), `fold` batch by batch (the cursor moves in the same transaction), `convert` (purchases
that followed signals folded by an earlier run), then figures and opportunities, then `finish`
(the watermark moves to `until`). A run interrupted anywhere resumes with the same `until`.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from domain.demand import hour_of, upserts, window_start
from models.demand import DemandHour, DemandRequester, DemandRun
from models.listings import SearchSignal

RUN = 1  # the one row of demand_runs
FIRST_ID, LAST_ID = uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1)
KEYS_PER_QUERY = 10_000
TOTALS = upserts.TOTALS


@dataclass(frozen=True)
class Plan:
    until: datetime
    window_start: datetime
    watermark: datetime | None  # the previous run's end; None on the first run


async def _run(session: AsyncSession) -> DemandRun:
    row = await session.get(DemandRun, RUN, with_for_update=True, populate_existing=True)
    if row is None:
        row = DemandRun(id=RUN, conversions_done=False, updated_at=utcnow())
        session.add(row)
        await session.flush()
    return row


async def _add(
    session: AsyncSession,
    hours: dict[tuple[str, datetime], list[int]],
    categories: dict[str, str],
    requesters: dict[str, int],
) -> None:
    """Add per-(pattern, hour) figures to the hourly rollups, and the same (with new unique
    requesters) to the patterns' totals."""
    rows = [(p, h, *figures) for (p, h), figures in hours.items()]
    await upserts.add_hours(session, cast(list[upserts.Hour], rows))
    per_pattern: dict[str, list[int]] = defaultdict(lambda: [0] * len(TOTALS))
    for (pattern, _), figures in hours.items():
        per_pattern[pattern] = [a + b for a, b in zip(per_pattern[pattern], figures, strict=True)]
    await _change_patterns(session, per_pattern, categories, requesters)


async def _change_patterns(
    session: AsyncSession,
    deltas: dict[str, list[int]],
    categories: dict[str, str],
    requesters: dict[str, int],
) -> None:
    zero = [0] * len(TOTALS)
    rows = [
        (p, categories.get(p), *deltas.get(p, zero), requesters.get(p, 0))
        for p in sorted(set(deltas) | set(requesters))
    ]
    await upserts.add_patterns(session, cast(list[upserts.Pattern], rows), utcnow())


async def begin(session: AsyncSession, until: datetime) -> Plan:
    """Start a run ending at `until` (or resume the one in progress with its own end): the hours
    and requesters that left the 24 h window are taken out of the totals, once."""
    run = await _run(session)
    if run.until is not None:
        assert run.window_start is not None
        return Plan(run.until, run.window_start, run.watermark)
    if run.watermark is not None and until <= run.watermark:
        until = run.watermark  # a clock behind the last run: nothing new to read
    start = window_start(until)
    if run.window_start is not None and run.window_start < start:
        await _expire(session, run.window_start, start)
    run.until, run.window_start, run.conversions_done = until, start, False
    if run.watermark is None:
        run.cursor_at, run.cursor_id = start, FIRST_ID
    elif run.cursor_at is None or run.cursor_at < run.watermark:
        run.cursor_at, run.cursor_id = run.watermark, LAST_ID
    run.updated_at = utcnow()
    return Plan(until, start, run.watermark)


async def _expire(session: AsyncSession, old_start: datetime, new_start: datetime) -> None:
    left = await session.execute(
        select(DemandHour.pattern, *(func.sum(DemandHour.__table__.c[n]) for n in TOTALS))
        .where(DemandHour.hour >= old_start, DemandHour.hour < new_start)
        .group_by(DemandHour.pattern)
    )
    deltas = {row[0]: [-int(v or 0) for v in row[1:]] for row in left}
    gone = await session.execute(
        select(DemandRequester.pattern, func.count())
        .where(DemandRequester.last_seen >= old_start, DemandRequester.last_seen < new_start)
        .group_by(DemandRequester.pattern)
    )
    requesters = {pattern: -int(n) for pattern, n in gone}
    await _change_patterns(session, deltas, {}, requesters)


async def fold(session: AsyncSession, plan: Plan, limit: int) -> int:
    """Fold the next `limit` signals of this run into the rollups; the number folded (fewer
    than `limit`: the run has read them all)."""
    run = await _run(session)
    assert run.cursor_at is not None and run.cursor_id is not None
    batch = (
        await session.execute(
            select(
                SearchSignal.id,
                SearchSignal.created_at,
                SearchSignal.pattern,
                SearchSignal.category,
                SearchSignal.requester,
                SearchSignal.matched_count,
                SearchSignal.max_price_units,
                SearchSignal.converted_at,
            )
            .where(
                tuple_(SearchSignal.created_at, SearchSignal.id)
                > tuple_(run.cursor_at, run.cursor_id),
                SearchSignal.created_at <= plan.until,
                SearchSignal.created_at >= plan.window_start,
                SearchSignal.pattern != "",  # a browse without words is no demand for anything
            )
            .order_by(SearchSignal.created_at, SearchSignal.id)
            .limit(limit)
        )
    ).all()
    hours: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0] * len(TOTALS))
    categories: dict[str, str] = {}
    seen: dict[tuple[str, str], datetime] = {}
    for s in batch:
        converted = s.converted_at is not None and s.converted_at <= plan.until
        priced = s.max_price_units is not None
        figures = hours[(s.pattern, hour_of(s.created_at))]
        for i, add in enumerate(
            (1, int(s.matched_count > 0), int(converted), s.max_price_units or 0, int(priced))
        ):
            figures[i] += add
        if s.category:
            categories[s.pattern] = s.category
        seen[(s.pattern, s.requester)] = s.created_at
    added = await _see_requesters(session, seen, plan.window_start)
    await _add(session, hours, categories, added)
    if batch:
        run.cursor_at, run.cursor_id = batch[-1].created_at, batch[-1].id
        run.updated_at = utcnow()
    return len(batch)


async def _see_requesters(
    session: AsyncSession, seen: dict[tuple[str, str], datetime], start: datetime
) -> dict[str, int]:
    """Record when each requester last searched each pattern; a pair not seen within the
    window before (new, or last seen before `start`) adds one unique requester to its pattern."""
    added: dict[str, int] = defaultdict(int)
    sightings = [(p, r, at) for (p, r), at in seen.items()]
    for i in range(0, len(sightings), KEYS_PER_QUERY):
        for pattern, previous in await upserts.see_requesters(
            session, sightings[i : i + KEYS_PER_QUERY]
        ):
            if previous is None or previous < start:
                added[pattern] += 1
    return added


async def convert(session: AsyncSession, plan: Plan) -> int:
    """Purchases that followed signals an earlier run folded (once per run)."""
    run = await _run(session)
    if run.conversions_done or plan.watermark is None:
        run.conversions_done = True
        return 0
    rows = await session.execute(
        select(SearchSignal.pattern, SearchSignal.created_at).where(
            SearchSignal.converted_at > plan.watermark,
            SearchSignal.converted_at <= plan.until,
            SearchSignal.created_at <= plan.watermark,
            SearchSignal.created_at >= plan.window_start,
            SearchSignal.pattern != "",
        )
    )
    hours: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0] * len(TOTALS))
    converted = 0
    for pattern, created_at in rows:
        hours[(pattern, hour_of(created_at))][2] += 1
        converted += 1
    await _add(session, hours, {}, {})
    run.conversions_done = True
    return converted


async def finish(session: AsyncSession, plan: Plan) -> None:
    run = await _run(session)
    if run.until is None:
        return
    run.watermark, run.until = plan.until, None
    run.cursor_at, run.cursor_id = plan.until, LAST_ID
    run.updated_at = utcnow()


async def purge_before(session: AsyncSession) -> int:
    """Rollups and requester rows below the aggregation's window (already taken out)."""
    run = await session.get(DemandRun, RUN)
    if run is None or run.window_start is None or run.until is not None:
        return 0
    hours = await session.execute(delete(DemandHour).where(DemandHour.hour < run.window_start))
    requesters = await session.execute(
        delete(DemandRequester).where(DemandRequester.last_seen < run.window_start)
    )
    return int(hours.rowcount or 0) + int(requesters.rowcount or 0)  # type: ignore[attr-defined]
