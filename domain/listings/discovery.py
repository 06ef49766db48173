"""Discovery: full-text search with filters and sorts; every search leaves a signal for demand.

User text never reaches a query parser: it is reduced to words first, so quotes, `*`, `:`,
`&`, `!` and friends are just separators (PostgreSQL `plainto_tsquery`, SQLite FTS5 with
each word quoted).
"""

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from models.listings import DataListing, SearchSignal

Sort = Literal["relevance", "price_asc", "price_desc", "freshness", "quality"]
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 16


def words_of(query: str | None) -> list[str]:
    return _WORD.findall((query or "").lower())[:MAX_WORDS]


def pattern_of(query: str | None) -> str:
    """The normalized demand pattern: lowercase words, deduplicated, sorted, space-joined."""
    return " ".join(sorted(set(words_of(query))))


@dataclass(frozen=True)
class Search:
    q: str | None = None
    category: str | None = None
    min_price_units: int | None = None
    max_price_units: int | None = None
    min_quality: Decimal | None = None
    max_age_hours: int | None = None
    seller_id: uuid.UUID | None = None
    sort_by: Sort = "relevance"
    page: int = 1
    page_size: int = 20


def _filtered(search: Search) -> Select[Any]:
    query = select(DataListing).where(DataListing.status == "active")
    if search.category:
        query = query.where(DataListing.category == search.category)
    if search.min_price_units is not None:
        query = query.where(DataListing.price_units >= search.min_price_units)
    if search.max_price_units is not None:
        query = query.where(DataListing.price_units <= search.max_price_units)
    if search.min_quality is not None:
        query = query.where(DataListing.quality_score >= search.min_quality)
    if search.max_age_hours is not None:
        since = utcnow() - timedelta(hours=search.max_age_hours)
        query = query.where(DataListing.freshness_at >= since)
    if search.seller_id is not None:
        query = query.where(DataListing.seller_id == search.seller_id)
    return query


def _with_text(query: Select[Any], words: list[str], dialect: str) -> tuple[Select[Any], Any]:
    """Restrict to listings matching every word; return the relevance expression too."""
    if dialect == "postgresql":
        vector = func.to_tsvector(literal_column("'english'"), DataListing.search_text)
        tsquery = func.plainto_tsquery(literal_column("'english'"), " ".join(words))
        return query.where(vector.op("@@")(tsquery)), func.ts_rank(vector, tsquery).desc()
    match = " ".join(f'"{w}"' for w in words)
    fts = (
        select(literal_column("rowid").label("rowid"), literal_column("rank").label("rank"))
        .select_from(text("listings_fts"))
        .where(text("listings_fts MATCH :match").bindparams(match=match))
        .subquery()
    )
    query = query.join(fts, fts.c.rowid == literal_column("data_listings.rowid"))
    return query, fts.c.rank.asc()  # FTS5 rank is bm25: lower is better


_ORDER = {
    "price_asc": (DataListing.price_units.asc(),),
    "price_desc": (DataListing.price_units.desc(),),
    "freshness": (DataListing.freshness_at.desc(),),
    "quality": (DataListing.quality_score.desc(),),
}


async def discover(
    session: AsyncSession, search: Search, requester: str
) -> tuple[int, list[DataListing]]:
    words = words_of(search.q)
    query, relevance = _filtered(search), None
    if words:
        query, relevance = _with_text(query, words, session.get_bind().dialect.name)
    order = _ORDER.get(search.sort_by) or (
        (relevance,) if relevance is not None else _ORDER["freshness"]
    )
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = list(
        await session.scalars(
            query.order_by(*order, DataListing.id)
            .offset((search.page - 1) * search.page_size)
            .limit(search.page_size)
        )
    )
    session.add(
        SearchSignal(
            query=(search.q or "")[:500],
            pattern=pattern_of(search.q)[:500],
            category=search.category,
            requester=requester,
            matched_count=total,
            max_price_units=search.max_price_units,
            source="discover",
        )
    )
    return total, rows
