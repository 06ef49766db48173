import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, Request, label, text
from api.schemas.listings import Category, Quality
from workflows.contracts.webhooks import DeliveryStatus, EndpointStatus

Url = Annotated[str, label(2048), Field(examples=["https://example.com/hooks"])]
EventTypes = Annotated[
    list[Annotated[str, label(64)]],
    Field(min_length=1, max_length=50, examples=[["listing_created", "transaction_completed"]]),
]


class WebhookRequest(Request):
    url: Url
    event_types: EventTypes
    secret: (
        Annotated[str, label(200), Field(description="whsec_ + base64 of 24-64 bytes")] | None
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
