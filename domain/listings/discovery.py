"""Discovery: full-text search with filters and sorts (the route records each search as a demand
signal, `domain.demand.signals`).

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

from sqlalchemy import ColumnElement, Select, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from models.listings import DataListing, ListingStatus

Sort = Literal["relevance", "price_asc", "price_desc", "freshness", "quality"]
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 16
TOTAL_CAP = 1_000  # `total` counts matches up to this many (ADR 0007)
RANK_CANDIDATES = 1_000  # PostgreSQL ranks at most this many matches by relevance (ADR 0007)


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
    query = select(DataListing).where(DataListing.status == ListingStatus.ACTIVE)
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


def _with_text(
    query: Select[Any], words: list[str], dialect: str
) -> tuple[Select[Any], ColumnElement[Any]]:
    """Restrict to listings matching every word; return the relevance expression too."""
    if dialect == "postgresql":
        vector: ColumnElement[Any] = literal_column("data_listings.search_vector")  # GIN-indexed
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


_ORDER: dict[str, tuple[ColumnElement[Any], ...]] = {
    "price_asc": (DataListing.price_units.asc(),),
    "price_desc": (DataListing.price_units.desc(),),
    "freshness": (DataListing.freshness_at.desc(),),
    "quality": (DataListing.quality_score.desc(),),
}


async def count_matching(
    session: AsyncSession, words: list[str], category: str | None = None
) -> int:
    """Active listings matching every word (and the category), counted up to TOTAL_CAP."""
    if not words:
        return 0
    query, _ = _with_text(
        _filtered(Search(category=category)), words, session.get_bind().dialect.name
    )
    capped = query.with_only_columns(DataListing.id).limit(TOTAL_CAP).subquery()
    return int(await session.scalar(select(func.count()).select_from(capped)) or 0)


async def discover(session: AsyncSession, search: Search) -> tuple[int, list[DataListing]]:
    words, dialect = words_of(search.q), session.get_bind().dialect.name
    query: Select[Any] = _filtered(search)
    relevance: ColumnElement[Any] | None = None
    if words:
        query, relevance = _with_text(query, words, dialect)
    capped = query.with_only_columns(DataListing.id).limit(TOTAL_CAP).subquery()
    total = int(await session.scalar(select(func.count()).select_from(capped)) or 0)
    order = _ORDER.get(search.sort_by)
    if order is None and relevance is None:
        order = _ORDER["freshness"]
    elif order is None and relevance is not None:
        order = (relevance,)
        if dialect == "postgresql":  # rank a bounded candidate set, not every match
            candidates = query.with_only_columns(DataListing.id).limit(RANK_CANDIDATES)
            query = select(DataListing).where(DataListing.id.in_(candidates.scalar_subquery()))
    rows = list(
        await session.scalars(
            query.order_by(*(order or ()), DataListing.id)
            .offset((search.page - 1) * search.page_size)
            .limit(search.page_size)
        )
    )
    return total, rows
