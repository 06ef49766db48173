"""The capability catalog: sellers declare what they can produce ("namespace/topic", a price
range); anyone searches it; only the owner changes or retires an entry. Each new or changed
entry is offered to the subscriptions it matches (`subscriptions.notify`) in the same
transaction.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import paginate
from core.errors import Forbidden, InvalidState, NotFound, RuleViolation
from core.ids import parse_id
from domain import agents
from domain.catalog import subscriptions
from domain.listings.discovery import words_of
from models.catalog import CatalogEntry
from models.listings import DataListing

ACTIVE, RETIRED = "active", "retired"
DEFAULT_QUALITY = Decimal("0.500")
Entry = CatalogEntry


class CatalogEntryNotFound(NotFound):
    code = "catalog_entry_not_found"


class InvalidPriceRange(RuleViolation):
    code = "invalid_price_range"


@dataclass(frozen=True)
class Declaration:
    """An entry as its seller describes it (prices in USDC units)."""

    namespace: str
    topic: str
    price_range_min_units: int
    price_range_max_units: int
    description: str = ""
    category: str | None = None
    schema_json: dict[str, Any] = field(default_factory=dict)


def _check_range(low: int, high: int) -> None:
    if low > high:
        raise InvalidPriceRange("price_range_min must not be above price_range_max")


async def _quality(session: AsyncSession, agent_id: uuid.UUID, category: str | None) -> Decimal:
    """The average quality of the agent's active listings in the category (0.5 without any)."""
    if category is None:
        return DEFAULT_QUALITY
    average = await session.scalar(
        select(func.avg(DataListing.quality_score)).where(
            DataListing.seller_id == agent_id,
            DataListing.status == "active",
            DataListing.category == category,
        )
    )
    return DEFAULT_QUALITY if average is None else Decimal(average).quantize(Decimal("0.001"))


async def create(
    session: AsyncSession,
    agent_id: uuid.UUID,
    declared: Declaration,
    *,
    quality: Decimal | None = None,
    listings_count: int = 0,
) -> Entry:
    _check_range(declared.price_range_min_units, declared.price_range_max_units)
    now = utcnow()
    entry = CatalogEntry(
        id=uuid.uuid4(),
        agent_id=agent_id,
        namespace=declared.namespace,
        topic=declared.topic,
        description=declared.description,
        category=declared.category,
        schema_json=declared.schema_json,
        price_range_min_units=declared.price_range_min_units,
        price_range_max_units=declared.price_range_max_units,
        quality_avg=quality
        if quality is not None
        else await _quality(session, agent_id, declared.category),
        active_listings_count=listings_count,
        status=ACTIVE,
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    await session.flush()
    await subscriptions.notify(session, entry, "created")
    return entry


async def get(session: AsyncSession, entry_id: str | uuid.UUID) -> Entry:
    key = entry_id if isinstance(entry_id, uuid.UUID) else parse_id(entry_id)
    entry = await session.get(CatalogEntry, key) if key else None
    if entry is None:
        raise CatalogEntryNotFound(f"Catalog entry {entry_id} not found")
    return entry


async def owned(session: AsyncSession, entry_id: str, caller: uuid.UUID) -> Entry:
    """The caller's entry, still active: anyone else's is 403 (a public resource), a retired
    one 409."""
    entry = await get(session, entry_id)
    if entry.agent_id != caller:
        raise Forbidden("Only the agent that declared this entry may change it", code="not_owner")
    if entry.status != ACTIVE:
        raise InvalidState("A retired catalog entry cannot change")
    return entry


async def update(
    session: AsyncSession, entry_id: str, caller: uuid.UUID, changes: dict[str, Any]
) -> Entry:
    entry = await owned(session, entry_id, caller)
    changed = {k: v for k, v in changes.items() if getattr(entry, k) != v}
    for name, value in changed.items():
        setattr(entry, name, value)
    _check_range(entry.price_range_min_units, entry.price_range_max_units)
    if "category" in changed:
        entry.quality_avg = await _quality(session, caller, entry.category)
    if changed:
        entry.updated_at = utcnow()
        await session.flush()
        await subscriptions.notify(session, entry, "updated")
    return entry


async def retire(session: AsyncSession, entry_id: str, caller: uuid.UUID) -> Entry:
    entry = await owned(session, entry_id, caller)
    entry.status, entry.updated_at = RETIRED, utcnow()
    await session.flush()
    return entry


def _text_matches(word: str) -> ColumnElement[bool]:
    text = func.lower(
        CatalogEntry.namespace + " " + CatalogEntry.topic + " " + CatalogEntry.description
    )
    return text.contains(word, autoescape=True)


@dataclass(frozen=True)
class Search:
    q: str | None = None
    namespace: str | None = None  # a prefix
    category: str | None = None
    max_price_units: int | None = None
    min_quality: Decimal | None = None
    page: int = 1
    page_size: int = 20


async def search(session: AsyncSession, wanted: Search) -> tuple[int, list[Entry]]:
    """Active entries with every word of `q` in their namespace, topic or description."""
    query = select(CatalogEntry).where(CatalogEntry.status == ACTIVE)
    conditions = [_text_matches(word) for word in words_of(wanted.q)]
    if wanted.namespace:
        conditions.append(CatalogEntry.namespace.startswith(wanted.namespace, autoescape=True))
    if wanted.category:
        conditions.append(CatalogEntry.category == wanted.category)
    if wanted.max_price_units is not None:
        conditions.append(CatalogEntry.price_range_min_units <= wanted.max_price_units)
    if wanted.min_quality is not None:
        conditions.append(CatalogEntry.quality_avg >= wanted.min_quality)
    if conditions:
        query = query.where(and_(*conditions))
    order = (CatalogEntry.quality_avg.desc(), CatalogEntry.created_at.desc(), CatalogEntry.id)
    return await paginate(session, query, *order, page=wanted.page, page_size=wanted.page_size)


async def of_agent(
    session: AsyncSession, agent_id: str, page: int, page_size: int
) -> tuple[int, list[Entry]]:
    agent = await agents.get(session, agent_id)
    query = select(CatalogEntry).where(
        CatalogEntry.agent_id == agent.id, CatalogEntry.status == ACTIVE
    )
    order = (CatalogEntry.created_at.desc(), CatalogEntry.id)
    return await paginate(session, query, *order, page=page, page_size=page_size)


@dataclass
class Populated:
    created: list[Entry] = field(default_factory=list)
    updated: list[Entry] = field(default_factory=list)
    unchanged: list[Entry] = field(default_factory=list)


async def auto_populate(session: AsyncSession, agent_id: uuid.UUID) -> Populated:
    """One entry per category of the agent's active listings (namespace = the category): its
    price range, average quality and count from those listings. An entry made earlier is
    brought up to date; one already current is left alone (and announces nothing)."""
    rows = await session.execute(
        select(DataListing.category, DataListing.price_units, DataListing.quality_score).where(
            DataListing.seller_id == agent_id, DataListing.status == "active"
        )
    )
    by_category: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    for category, price, quality in rows:
        by_category[category].append((price, quality))
    existing = {
        entry.category: entry
        for entry in await session.scalars(
            select(CatalogEntry)
            .where(
                CatalogEntry.agent_id == agent_id,
                CatalogEntry.status == ACTIVE,
                CatalogEntry.namespace == CatalogEntry.category,
            )
            .order_by(CatalogEntry.created_at.desc())
        )
    }
    done = Populated()
    for category in sorted(by_category):
        items = by_category[category]
        prices = [price for price, _ in items]
        average = sum(q for _, q in items) / len(items)
        quality = Decimal(average).quantize(Decimal("0.001"))
        figures: dict[str, Any] = {
            "price_range_min_units": min(prices),
            "price_range_max_units": max(prices),
            "quality_avg": quality,
            "active_listings_count": len(items),
        }
        entry = existing.get(category)
        if entry is None:
            entry = await create(
                session,
                agent_id,
                Declaration(
                    namespace=category,
                    topic="*",
                    price_range_min_units=min(prices),
                    price_range_max_units=max(prices),
                    description=f"{len(items)} active {category} listing(s)",
                    category=category,
                ),
                quality=quality,
                listings_count=len(items),
            )
            done.created.append(entry)
            continue
        changed = {k: v for k, v in figures.items() if getattr(entry, k) != v}
        if not changed:
            done.unchanged.append(entry)
            continue
        for name, value in changed.items():
            setattr(entry, name, value)
        entry.description = f"{len(items)} active {category} listing(s)"
        entry.updated_at = utcnow()
        await session.flush()
        await subscriptions.notify(session, entry, "updated")
        done.updated.append(entry)
    return done
