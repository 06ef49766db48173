"""Listings: publish, browse, change, delist. The content itself is never returned here."""

import base64
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AgentId, Session, State
from api.routes import API_PREFIX
from api.schemas.common import PageNumber, PageSize
from api.schemas.listings import (
    Category,
    ListingCreate,
    ListingList,
    ListingResponse,
    ListingUpdate,
    SellerRef,
)
from api.state import AppState
from core.errors import RuleViolation
from core.settings import Settings
from domain import listings

router = APIRouter(prefix=f"{API_PREFIX}/listings", tags=["listings"])


class ContentTooLarge(RuleViolation):
    code = "content_too_large"


def draft_of(body: ListingCreate, settings: Settings) -> listings.Draft:
    if body.content is not None:
        content = body.content.encode()
    else:  # the schema's pattern admits only valid base64
        content = base64.b64decode(body.content_base64 or "", validate=True)
    if len(content) > settings.listing_max_content_bytes:
        raise ContentTooLarge(
            f"content is {len(content)} bytes; the limit is {settings.listing_max_content_bytes}"
        )
    return listings.Draft(
        title=body.title,
        category=body.category,
        content=content,
        content_type=body.content_type,
        price_units=body.price_usdc,
        description=body.description,
        details=body.metadata,
        tags=tuple(body.tags),
        quality_score=body.quality_score,
    )


_RENAMED = {"seller", "price_usdc", "metadata"}


async def present(session: AsyncSession, rows: list[listings.Listing]) -> list[ListingResponse]:
    names = await listings.seller_names(session, rows)
    return [
        ListingResponse(
            **{k: getattr(row, k) for k in ListingResponse.model_fields if k not in _RENAMED},
            seller=SellerRef(id=row.seller_id, name=names.get(row.seller_id, "")),
            price_usdc=row.price_units,
            metadata=row.details,
        )
        for row in rows
    ]


def locate(request: Request, response: Response, listing: listings.Listing) -> None:
    response.headers["Location"] = request.url_for("listing", listing_id=str(listing.id)).path


@router.post("", status_code=201, response_model=ListingResponse)
async def create(
    body: ListingCreate,
    seller: AgentId,
    session: Session,
    state: State,
    request: Request,
    response: Response,
) -> Any:
    """Store the content, generate its four quality proofs, announce `listing_created`."""
    listing = await publish(session, state, seller, body)
    response.headers["Location"] = request.url_for("listing", listing_id=str(listing.id)).path
    return listing


async def publish(
    session: AsyncSession, state: AppState, seller: uuid.UUID, body: ListingCreate
) -> ListingResponse:
    """Publish one listing as `seller` (REST and the MCP tool)."""
    [listing] = await listings.publish(
        session, state.delivery, seller, [draft_of(body, state.settings)]
    )
    return (await present(session, [listing]))[0]


@router.get("", response_model=ListingList)
async def browse(
    session: Session,
    category: Category | None = None,
    status: listings.ListingStatus | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> ListingList:
    total, rows = await listings.page(
        session, category=category, status=status, page=page, page_size=page_size
    )
    return ListingList(
        total=total, page=page, page_size=page_size, results=await present(session, rows)
    )


@router.get("/{listing_id}", response_model=ListingResponse, name="listing")
async def get(listing_id: str, session: Session) -> ListingResponse:
    return (await present(session, [await listings.get(session, listing_id)]))[0]


@router.put("/{listing_id}", response_model=ListingResponse)
async def update(
    listing_id: str, body: ListingUpdate, seller: AgentId, session: Session
) -> ListingResponse:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "price_usdc" in changes:
        changes["price_units"] = changes.pop("price_usdc")
    listing = await listings.update(session, listing_id, seller, changes)
    return (await present(session, [listing]))[0]


@router.delete("/{listing_id}", response_model=ListingResponse)
async def delist(listing_id: str, seller: AgentId, session: Session) -> ListingResponse:
    return (await present(session, [await listings.delist(session, listing_id, seller)]))[0]
