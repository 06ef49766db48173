"""The capability catalog: sellers declare what they can produce, anyone searches it, buyers
subscribe to what they want and are told (`catalog_update`) when a matching entry appears or
changes. Only an entry's owner changes or retires it (403 for anyone else); subscriptions are
private (404)."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AgentId, ReadSession, Session, State
from api.flows import catalog as flow
from api.routes import API_PREFIX
from api.schemas.catalog import (
    AutoPopulated,
    CatalogCreate,
    CatalogList,
    CatalogResponse,
    CatalogUpdate,
    SubscribeRequest,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionResponse,
)
from api.schemas.common import PageNumber, PageSize
from api.schemas.listings import Category, QualityFilter
from api.schemas.money import UsdcFilter
from domain import catalog
from domain.catalog import subscriptions

router = APIRouter(prefix=f"{API_PREFIX}/catalog", tags=["catalog"])

_UNITS = {"price_range_min": "price_range_min_units", "price_range_max": "price_range_max_units"}


def _entries(rows: list[catalog.Entry]) -> list[CatalogResponse]:
    return [CatalogResponse.model_validate(row) for row in rows]


@router.post("", status_code=201, response_model=CatalogResponse)
async def create(
    body: CatalogCreate, seller: AgentId, session: Session, request: Request, response: Response
) -> Any:
    """Declare what the caller can produce; matching subscribers get `catalog_update`."""
    entry = await declare(session, seller, body)
    response.headers["Location"] = request.url_for("catalog_entry", entry_id=str(entry.id)).path
    return entry


async def declare(session: AsyncSession, seller: uuid.UUID, body: CatalogCreate) -> CatalogResponse:
    """One catalog entry declared by `seller` (REST and the MCP tool)."""
    declared = catalog.Declaration(
        namespace=body.namespace,
        topic=body.topic,
        price_range_min_units=body.price_range_min,
        price_range_max_units=body.price_range_max,
        description=body.description,
        category=body.category,
        schema_json=body.entry_schema,
    )
    return CatalogResponse.model_validate(await catalog.create(session, seller, declared))


@router.get("/search", response_model=CatalogList)
async def search(
    session: ReadSession,
    q: Annotated[str | None, Query(max_length=500)] = None,
    namespace: Annotated[str | None, Query(max_length=200)] = None,
    category: Category | None = None,
    max_price: UsdcFilter | None = None,
    min_quality: QualityFilter | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> CatalogList:
    """Active entries with every word of `q` in namespace, topic or description; `namespace`
    is a prefix; `max_price` keeps entries whose range starts at or below it."""
    wanted = catalog.Search(q, namespace, category, max_price, min_quality, page, page_size)
    total, rows = await catalog.search(session, wanted)
    return CatalogList(total=total, page=page, page_size=page_size, entries=_entries(rows))


@router.get("/agent/{agent_id}", response_model=CatalogList)
async def of_agent(
    agent_id: str, session: ReadSession, page: PageNumber = 1, page_size: PageSize = 20
) -> CatalogList:
    total, rows = await catalog.of_agent(session, agent_id, page, page_size)
    return CatalogList(total=total, page=page, page_size=page_size, entries=_entries(rows))


@router.post("/auto-populate", response_model=AutoPopulated)
async def auto_populate(seller: AgentId, session: Session) -> AutoPopulated:
    """One entry per category of the caller's active listings, made or brought up to date."""
    done = await catalog.auto_populate(session, seller)
    return AutoPopulated(
        created=len(done.created),
        updated=len(done.updated),
        unchanged=len(done.unchanged),
        entries=_entries([*done.created, *done.updated, *done.unchanged]),
    )


@router.post("/subscribe", status_code=201, response_model=SubscriptionCreated)
async def subscribe(body: SubscribeRequest, subscriber: AgentId, state: State) -> Response:
    """By webhook, the signing secret is in the answer, and only there."""
    interest = subscriptions.Interest(
        body.namespace_pattern,
        body.topic_pattern,
        body.category_filter,
        body.max_price,
        body.min_quality,
        body.notify_via,
    )
    made = await flow.subscribe(state, subscriber, interest, body.webhook_url)
    created = SubscriptionCreated.model_validate(made.subscription)
    created.webhook_secret = made.webhook_secret
    location = f"/api/v1/catalog/subscribe/{made.subscription.id}"
    return Response(
        created.model_dump_json(), 201, {"Location": location}, media_type="application/json"
    )


@router.get("/subscriptions", response_model=SubscriptionList)
async def my_subscriptions(
    subscriber: AgentId, session: ReadSession, page: PageNumber = 1, page_size: PageSize = 20
) -> SubscriptionList:
    """The caller's own subscriptions, oldest first."""
    total, rows = await subscriptions.page(session, subscriber, page, page_size)
    return SubscriptionList(
        total=total,
        page=page,
        page_size=page_size,
        subscriptions=[SubscriptionResponse.model_validate(row) for row in rows],
    )


@router.get("/subscribe/{subscription_id}", response_model=SubscriptionResponse)
async def subscription(
    subscription_id: str, subscriber: AgentId, session: ReadSession
) -> SubscriptionResponse:
    found = await subscriptions.owned(session, subscription_id, subscriber)
    return SubscriptionResponse.model_validate(found)


@router.delete("/subscribe/{subscription_id}", status_code=204)
async def unsubscribe(subscription_id: str, subscriber: AgentId, state: State) -> Response:
    await flow.unsubscribe(state, subscriber, subscription_id)
    return Response(status_code=204)


@router.get("/{entry_id}", response_model=CatalogResponse, name="catalog_entry")
async def get(entry_id: str, session: ReadSession) -> CatalogResponse:
    return CatalogResponse.model_validate(await catalog.get(session, entry_id))


@router.patch("/{entry_id}", response_model=CatalogResponse)
async def update(
    entry_id: str, body: CatalogUpdate, seller: AgentId, session: Session
) -> CatalogResponse:
    """Only the owner; a change that matches a subscription sends it `catalog_update`."""
    changes = body.model_dump(exclude_unset=True, by_alias=True)
    for name in ("namespace", "topic", "description", "schema_json", *_UNITS):
        if name in changes and changes[name] is None:
            del changes[name]  # null is "no change" for fields that cannot be empty
    changes = {_UNITS.get(k, k): v for k, v in changes.items()}
    return CatalogResponse.model_validate(await catalog.update(session, entry_id, seller, changes))


@router.delete("/{entry_id}", response_model=CatalogResponse)
async def retire(entry_id: str, seller: AgentId, session: Session) -> CatalogResponse:
    """Only the owner: the entry leaves search (it stays readable, `retired`)."""
    return CatalogResponse.model_validate(await catalog.retire(session, entry_id, seller))
