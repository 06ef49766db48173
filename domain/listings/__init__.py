"""Listings: sellers publish cached results; the bytes go to the content store, never the API."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import paginate
from core.errors import Forbidden, InvalidState, NotFound
from core.ids import parse_id
from core.queries import fetch
from domain import events, proofs
from models.agents import RegisteredAgent
from models.listings import DataListing, ListingStatus, QualityProof

Listing = DataListing


class ListingNotFound(NotFound):
    code = "listing_not_found"


@dataclass(frozen=True)
class Draft:
    """A listing as a seller describes it; `content` is already bytes."""

    title: str
    category: str
    content: bytes
    content_type: str
    price_units: int
    description: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    quality_score: Decimal = Decimal("0.5")
    expires_at: datetime | None = None


def search_text(title: str, description: str, tags: list[str] | tuple[str, ...]) -> str:
    return " ".join([title, description, *tags])


async def create(
    session: AsyncSession, seller_id: uuid.UUID, draft: Draft, content_hash: str
) -> DataListing:
    """Record a listing whose bytes are already stored under `content_hash`, with its proofs."""
    now = utcnow()
    listing = DataListing(
        id=uuid.uuid4(),
        seller_id=seller_id,
        title=draft.title,
        description=draft.description,
        category=draft.category,
        content_hash=content_hash,
        content_size=len(draft.content),
        content_type=draft.content_type,
        price_units=draft.price_units,
        currency="USDC",
        access_count=0,
        details=draft.details,
        tags=list(draft.tags),
        quality_score=draft.quality_score,
        freshness_at=now,
        expires_at=draft.expires_at,
        status=ListingStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        search_text=search_text(draft.title, draft.description, draft.tags),
    )
    session.add(listing)
    for proof in proofs.generate(
        draft.content, draft.content_type, draft.category, now, draft.quality_score
    ):
        session.add(
            QualityProof(
                listing_id=listing.id,
                proof_type=proof.proof_type,
                commitment=proof.commitment,
                public_inputs=proof.public_inputs,
                created_at=now,
            )
        )
    events.emit(
        session,
        events.EventType.LISTING_CREATED,
        {
            "listing_id": str(listing.id),
            "title": listing.title,
            "category": listing.category,
            "price_units": listing.price_units,
            "seller_id": str(seller_id),
        },
    )
    return listing


class ContentSink(Protocol):
    async def put(self, data: bytes) -> str: ...


async def publish(
    session: AsyncSession, store: ContentSink, seller_id: uuid.UUID, drafts: list[Draft]
) -> list[DataListing]:
    """Store each draft's bytes (content-addressed, so a rolled-back listing leaves only an
    unreferenced duplicate-free blob) and create the listings in the caller's transaction."""
    return [await create(session, seller_id, d, await store.put(d.content)) for d in drafts]


async def seller_names(session: AsyncSession, listings: list[DataListing]) -> dict[uuid.UUID, str]:
    ids = {listing.seller_id for listing in listings}
    if not ids:
        return {}
    rows = await session.execute(
        select(RegisteredAgent.id, RegisteredAgent.name).where(RegisteredAgent.id.in_(ids))
    )
    return {agent_id: name for agent_id, name in rows}


class Offer(NamedTuple):
    """What a purchase is opened from."""

    id: uuid.UUID
    seller_id: uuid.UUID
    status: str
    price_units: int
    content_hash: str
    title: str
    category: str


async def offer_of(session: AsyncSession, listing_id: str | uuid.UUID) -> Offer:
    key = _key(listing_id)
    found = await fetch(session, _OFFER, {"listing": key}) if key else None
    if not found:
        raise ListingNotFound(f"Listing {listing_id} not found")
    return Offer(*found[0])


def _key(listing_id: str | uuid.UUID) -> uuid.UUID | None:
    return listing_id if isinstance(listing_id, uuid.UUID) else parse_id(listing_id)


_OFFER = select(*(DataListing.__table__.c[f] for f in Offer._fields)).where(
    DataListing.id == bindparam("listing")
)


async def get(session: AsyncSession, listing_id: str | uuid.UUID) -> DataListing:
    key = _key(listing_id)
    listing = await session.get(DataListing, key) if key else None
    if listing is None:
        raise ListingNotFound(f"Listing {listing_id} not found")
    return listing


async def owned(session: AsyncSession, listing_id: str, caller: uuid.UUID) -> DataListing:
    listing = await get(session, listing_id)
    if listing.seller_id != caller:
        raise Forbidden("Only the seller may change this listing", code="not_owner")
    return listing


async def update(
    session: AsyncSession, listing_id: str, caller: uuid.UUID, changes: dict[str, Any]
) -> DataListing:
    listing = await owned(session, listing_id, caller)
    if listing.status == ListingStatus.DELISTED:
        raise InvalidState("A delisted listing cannot change")
    for name, value in changes.items():
        setattr(listing, name, list(value) if name == "tags" else value)
    listing.search_text = search_text(listing.title, listing.description, listing.tags)
    listing.updated_at = utcnow()
    return listing


async def delist(session: AsyncSession, listing_id: str, caller: uuid.UUID) -> DataListing:
    listing = await owned(session, listing_id, caller)
    listing.status, listing.updated_at = ListingStatus.DELISTED, utcnow()
    return listing


async def page(
    session: AsyncSession, *, category: str | None, status: str | None, page: int, page_size: int
) -> tuple[int, list[DataListing]]:
    query = select(DataListing)
    if category:
        query = query.where(DataListing.category == category)
    if status:
        query = query.where(DataListing.status == status)
    order = (DataListing.created_at.desc(), DataListing.id)
    return await paginate(session, query, *order, page=page, page_size=page_size)


async def proofs_of(session: AsyncSession, listing_id: str) -> list[QualityProof]:
    listing = await get(session, listing_id)
    return list(await session.scalars(_PROOFS, {"listing": listing.id}))


_PROOFS = (
    select(QualityProof)
    .where(QualityProof.listing_id == bindparam("listing"))
    .order_by(QualityProof.proof_type)
)


async def committed(session: AsyncSession, listing_id: uuid.UUID) -> list[proofs.Proof]:
    """What the listing's proofs commit to, to check a delivery against (one read, no objects)."""
    return as_proofs(await fetch(session, _COMMITTED, {"listing": listing_id}))


async def quality_of(session: AsyncSession, listing_id: uuid.UUID) -> Decimal:
    ((quality,),) = await fetch(session, _QUALITY, {"listing": listing_id})
    return cast(Decimal, quality)


_COMMITTED = _PROOFS.with_only_columns(
    QualityProof.proof_type, QualityProof.commitment, QualityProof.public_inputs
)
_QUALITY = select(DataListing.quality_score).where(DataListing.id == bindparam("listing"))


def as_proofs(rows: Sequence[Any]) -> list[proofs.Proof]:
    return [
        proofs.Proof(cast(proofs.ProofType, r.proof_type), r.commitment, r.public_inputs)
        for r in rows
    ]
