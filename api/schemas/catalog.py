import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

from api.schemas.common import JsonObject, Page, Request, label
from api.schemas.listings import Category, Description, PriceOut, Quality
from api.schemas.money import Exact, PriceIn
from api.schemas.webhooks import Url
from core.money import UNITS_PER_USDC, USDC_SCALE

Name = Annotated[str, label(200)]
Pattern = Annotated[str, label(200), Field(examples=["web_search.*"])]
PriceFloor = Annotated[
    int,
    Exact(USDC_SCALE, 1_000, positive=False, units=UNITS_PER_USDC, example="0.001"),
]


class CatalogCreate(Request):
    namespace: Name = Field(examples=["web_search.python"])
    topic: Name = Field(examples=["asyncio tutorials"])
    description: Description = ""
    category: Category | None = None
    entry_schema: JsonObject = Field({}, alias="schema_json")
    price_range_min: PriceFloor
    price_range_max: PriceIn


class CatalogUpdate(Request):
    namespace: Name | None = None
    topic: Name | None = None
    description: Description | None = None
    category: Category | None = None
    entry_schema: JsonObject | None = Field(None, alias="schema_json")
    price_range_min: PriceFloor | None = None
    price_range_max: PriceIn | None = None


class CatalogResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    agent_id: uuid.UUID
    namespace: str
    topic: str
    description: str
    category: str | None
    entry_schema: dict[str, Any] = Field(
        validation_alias="schema_json", serialization_alias="schema_json"
    )
    price_range_min: PriceOut = Field(validation_alias="price_range_min_units")
    price_range_max: PriceOut = Field(validation_alias="price_range_max_units")
    quality_avg: Decimal
    active_listings_count: int
    status: str
    created_at: datetime
    updated_at: datetime


class CatalogList(Page):
    entries: list[CatalogResponse]


class AutoPopulated(BaseModel):
    created: int
    updated: int
    unchanged: int
    entries: list[CatalogResponse]


_URL_WITH_WEBHOOK: JsonDict = {
    "anyOf": [
        {"properties": {"notify_via": {"const": "websocket"}}},
        {"required": ["webhook_url"], "properties": {"webhook_url": {"not": {"type": "null"}}}},
    ]
}


class SubscribeRequest(Request):
    """`webhook_url` is required with `notify_via: webhook` (and vetted like any webhook: a
    host that resolves to a private address is refused); it is not used otherwise."""

    model_config = ConfigDict(json_schema_extra=_URL_WITH_WEBHOOK)

    namespace_pattern: Pattern
    topic_pattern: Pattern = "*"
    category_filter: Category | None = None
    max_price: PriceIn | None = None
    min_quality: Quality | None = None
    notify_via: Literal["websocket", "webhook"] = "websocket"
    webhook_url: Url | None = None


class SubscriptionResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: uuid.UUID
    subscriber_id: uuid.UUID
    namespace_pattern: str
    topic_pattern: str
    category_filter: str | None
    max_price: PriceOut | None = Field(validation_alias="max_price_units")
    min_quality: Decimal | None
    notify_via: str
    webhook_id: uuid.UUID | None = Field(validation_alias="webhook_endpoint_id")
    created_at: datetime


class SubscriptionCreated(SubscriptionResponse):
    webhook_secret: str | None = Field(
        None, description="By webhook: the signing secret (whsec_…), shown only here"
    )


class SubscriptionList(Page):
    subscriptions: list[SubscriptionResponse]
