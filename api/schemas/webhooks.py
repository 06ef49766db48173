import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, Request, label, text
from api.schemas.listings import Category, Quality
from domain import webhooks
from workflows.contracts.webhooks import DeliveryStatus, EndpointStatus

Url = Annotated[
    str,
    label(2048),
    # ASCII ranges, not \s: JSON Schema's and the server's regex engines agree on them.
    Field(
        pattern=r"^https?://[^\x00-\x20\x7f/?#@]+([/?#][^\x00-\x20\x7f]*)?$",
        examples=["https://example.com/hooks"],
    ),
]
# The event types an agent may subscribe to, as the schema's enum.
Subscribable = StrEnum("Subscribable", {name: name for name in sorted(webhooks.SUBSCRIBABLE)})  # type: ignore[misc]
# whsec_ + standard base64 of 24 to 64 bytes (8 to 21 groups of 4, then at most 1 or 2 bytes).
SECRET = (
    r"^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
    r"|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/]{2}==)?)$"
)
EventTypes = Annotated[
    list[Subscribable],
    Field(min_length=1, max_length=50, examples=[["listing_created", "transaction_completed"]]),
]


class WebhookRequest(Request):
    url: Url
    event_types: EventTypes
    secret: (
        Annotated[
            str, Field(max_length=200, pattern=SECRET, description="whsec_ + base64 of 24-64 bytes")
        ]
        | None
    ) = None


class Endpoint(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_types: list[str]
    status: EndpointStatus
    paused_reason: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime


class WebhookResponse(Endpoint):
    url: str


class WebhookCreated(WebhookResponse):
    secret: str = Field(description="Shown only here; sign-checks every delivery")


class WebhookList(Page):
    webhooks: list[WebhookResponse]


class RotatedSecret(BaseModel):
    id: uuid.UUID
    secret: str
    previous_secret_valid_until: datetime


class DeliveryResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_id: uuid.UUID = Field(description="Sent as webhook-id on every attempt")
    event_type: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None
    error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class DeliveryList(Page):
    deliveries: list[DeliveryResponse]


class OpenClawFilters(Request):
    categories: list[Category] = Field(default_factory=list, max_length=5)
    min_urgency: Quality | None = None


class OpenClawRequest(Request):
    gateway_url: Url
    bearer_token: Annotated[str, text(512, min_length=1)]
    event_types: EventTypes
    filters: OpenClawFilters = Field(default_factory=OpenClawFilters)


class OpenClawWebhook(Endpoint):
    gateway_url: str = Field(validation_alias="url")
    filters: OpenClawFilters


class OpenClawList(Page):
    webhooks: list[OpenClawWebhook]


class OpenClawStatus(BaseModel):
    connected: bool = Field(description="At least one active webhook")
    webhooks: int
    active: int
    paused: int
    last_delivery_at: datetime | None
    last_error: str | None
