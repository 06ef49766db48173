"""Login throttling shared by every API process: a sliding log of attempts per key, in the database.

An attempt is counted *before* the password is checked and forgotten again only when it
succeeds, so neither a crash nor many attempts in parallel can get more guesses through than
the limit. Each key's row is locked while it is read and rewritten (rows are always locked in
key order, so two attempts never deadlock); on SQLite every writer is serialized anyway.
"""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import AppError
from models.creators import CreatorLoginThrottle

STALE_ROWS_DELETED_PER_ATTEMPT = 100


class TooManyAttempts(AppError):
    status, code, title = 429, "too_many_login_attempts", "Too many login attempts"


@dataclass(frozen=True)
class Limit:
    key: str
    max_attempts: int


@dataclass(frozen=True)
class Reservation:
    """One counted attempt: its time stamp (epoch ms) in the log of each key."""

    keys: tuple[str, ...]
    stamp: int


def key_for(kind: str, value: str) -> str:
    """A fixed-length key that does not store the email or address itself."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


async def reserve(
    session: AsyncSession, limits: Sequence[Limit], window_seconds: int
) -> Reservation:
    """Count one attempt against every key, or refuse it (429) while any key is at its limit."""
    now = utcnow()
    now_ms, window_ms = int(now.timestamp() * 1000), window_seconds * 1000
    await _forget_stale(session, now - timedelta(seconds=window_seconds))
    ordered = sorted(limits, key=lambda limit: limit.key)
    rows = [await _locked(session, limit.key) for limit in ordered]
    recent = [sorted(int(t) for t in row.attempts if int(t) > now_ms - window_ms) for row in rows]
    waits_ms = [
        stamps[len(stamps) - limit.max_attempts] + window_ms - now_ms
        for limit, stamps in zip(ordered, recent, strict=True)
        if len(stamps) >= limit.max_attempts
    ]
    if waits_ms:
        retry_after = max(1, math.ceil(max(waits_ms) / 1000))
        raise TooManyAttempts(
            f"Too many login attempts; try again in {retry_after} s", retry_after=retry_after
        )
    for row, stamps in zip(rows, recent, strict=True):
        row.attempts = [*stamps, now_ms]
        row.updated_at = now
    await session.flush()
    return Reservation(tuple(limit.key for limit in ordered), now_ms)


async def release(session: AsyncSession, reservation: Reservation) -> None:
    """Forget a counted attempt (it succeeded), once per key."""
    for key in reservation.keys:
        row = await _locked(session, key)
        stamps = list(row.attempts)
        if reservation.stamp in stamps:
            stamps.remove(reservation.stamp)
            row.attempts = stamps
    await session.flush()


async def _locked(session: AsyncSession, key: str) -> CreatorLoginThrottle:
    """The key's row, locked for this transaction; created on first use."""
    query = (
        select(CreatorLoginThrottle)
        .where(CreatorLoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = await session.scalar(query)
    if row is not None:
        return row
    try:
        async with session.begin_nested():
            row = CreatorLoginThrottle(key=key, attempts=[], updated_at=utcnow())
            session.add(row)
        return row
    except IntegrityError:  # another attempt created it first; wait for its lock
        found = await session.scalar(query)
        assert found is not None
        return found


async def _forget_stale(session: AsyncSession, older_than: datetime) -> None:
    """Delete a few rows nobody has used for a whole window; skips rows others hold."""
    stale = (
        select(CreatorLoginThrottle.key)
        .where(CreatorLoginThrottle.updated_at < older_than)
        .limit(STALE_ROWS_DELETED_PER_ATTEMPT)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(CreatorLoginThrottle)
        .where(CreatorLoginThrottle.key.in_(stale.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
