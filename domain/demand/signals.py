"""Search signals: what was searched, by whom, and whether a purchase followed.

A requester is `agent:<id>` for an agent, or `client:<address>` for an anonymous caller, the
key the rate limiter counts anonymous callers by: one client is one requester however many
searches it sends.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import append
from core.queries import change
from domain.listings.discovery import pattern_of
from models.listings import SearchSignal

CONVERSION_WINDOW = timedelta(hours=1)  # a purchase this soon after a search converts it
QUERY_LENGTH = 500


def agent_requester(agent_id: uuid.UUID) -> str:
    return f"agent:{agent_id}"


def client_requester(address: str) -> str:
    return f"client:{address}"[:80]


def requester_of(agent_id: uuid.UUID | None, client_address: str) -> str:
    return agent_requester(agent_id) if agent_id else client_requester(client_address)


def record(
    session: AsyncSession,
    *,
    query: str | None,
    category: str | None,
    requester: str,
    matched_count: int,
    max_price_units: int | None = None,
    source: str = "discover",
) -> SearchSignal:
    """Log one search in the caller's unit of work (discover, auto-match, express buy)."""
    signal = SearchSignal(
        query=(query or "")[:QUERY_LENGTH],
        pattern=pattern_of(query)[:QUERY_LENGTH],
        category=category,
        requester=requester,
        matched_count=matched_count,
        max_price_units=max_price_units,
        source=source,
        led_to_purchase=False,
        created_at=utcnow(),
    )
    append(session, signal)
    return signal


async def convert(session: AsyncSession, buyer_id: uuid.UUID, at: datetime | None = None) -> bool:
    """A purchase by this agent completed: its latest search within the hour that has not led to
    a purchase yet now has (the express buy's own signal, or the discover that found it)."""
    at = at or utcnow()
    searched = {"searcher": agent_requester(buyer_id), "since": at - CONVERSION_WINDOW, "at": at}
    return bool(await change(session, _CONVERTED, searched))


_signals = SearchSignal.metadata.tables["search_signals"]
_LATEST_UNCONVERTED = (
    select(_signals.c.id)
    .where(
        _signals.c.requester == bindparam("searcher"),
        _signals.c.created_at >= bindparam("since"),
        _signals.c.created_at <= bindparam("at"),
        _signals.c.led_to_purchase.is_(False),
    )
    .order_by(_signals.c.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
_CONVERTED = (
    update(_signals)
    .where(_signals.c.id == _LATEST_UNCONVERTED, _signals.c.led_to_purchase.is_(False))
    .values(led_to_purchase=True, converted_at=bindparam("at"))
)


async def purge_before(session: AsyncSession, moment: datetime) -> int:
    """Delete signals older than `moment` (SEARCH_SIGNAL_RETENTION_DAYS has passed)."""
    result = await session.execute(delete(SearchSignal).where(SearchSignal.created_at < moment))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
