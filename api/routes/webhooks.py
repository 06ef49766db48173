"""Seller webhooks: Standard Webhooks endpoints an agent registers for the event types it may
see; it lists and deletes its own, reads their deliveries, re-enables a paused one, rotates its
secret and sends it a test event. Anyone else's webhook is 404."""

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response

from api.deps import AgentId, Session, State
from api.flows import webhooks as flow
from api.routes import API_PREFIX
from api.schemas.common import PageNumber, PageSize
from api.schemas.webhooks import (
    DeliveryList,
    DeliveryResponse,
    RotatedSecret,
    WebhookCreated,
    WebhookList,
    WebhookRequest,
    WebhookResponse,
)
from core import signatures
from core.vault import vault_of
from domain import webhooks
from workflows.contracts.webhooks import DeliveryStatus, EndpointKind

router = APIRouter(prefix=f"{API_PREFIX}/seller", tags=["webhooks"])
SELLER = EndpointKind.SELLER


@router.post("/webhook", status_code=201, response_model=WebhookCreated)
async def register(body: WebhookRequest, seller: AgentId, state: State) -> Response:
    """The secret (given, or generated) is returned only here."""
    secret = body.secret or signatures.new_secret()
    types = [str(t) for t in body.event_types]
    subscription = webhooks.Subscription(SELLER, body.url, types, secret)
    endpoint = await flow.register(state, seller, subscription)
    created = WebhookCreated.model_validate(
        {**WebhookResponse.model_validate(endpoint).model_dump(), "secret": secret}
    )
    headers = {"Location": f"/api/v1/seller/webhooks/{endpoint.id}"}
    return Response(created.model_dump_json(), 201, headers, media_type="application/json")


@router.get("/webhooks", response_model=WebhookList)
async def mine(
    seller: AgentId, session: Session, page: PageNumber = 1, page_size: PageSize = 20
) -> WebhookList:
    total, rows = await webhooks.page(session, seller, SELLER, page, page_size)
    return WebhookList(
        total=total,
        page=page,
        page_size=page_size,
        webhooks=[WebhookResponse.model_validate(row) for row in rows],
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookResponse)
async def one(webhook_id: str, seller: AgentId, session: Session) -> WebhookResponse:
    return WebhookResponse.model_validate(await webhooks.owned(session, webhook_id, seller, SELLER))


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete(webhook_id: str, seller: AgentId, session: Session) -> Response:
    await webhooks.delete(session, await webhooks.owned(session, webhook_id, seller, SELLER))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def deliveries(
    webhook_id: str,
    seller: AgentId,
    session: Session,
    status: DeliveryStatus | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> DeliveryList:
    """Newest first, with each one's status, attempts and the last response code."""
    return await delivery_page(session, seller, SELLER, webhook_id, status, page, page_size)


@router.post("/webhooks/{webhook_id}/enable", response_model=WebhookResponse)
async def enable(webhook_id: str, seller: AgentId, state: State) -> WebhookResponse:
    """Re-enable a paused webhook: its pending deliveries resume."""
    return WebhookResponse.model_validate(await flow.enable(state, seller, SELLER, webhook_id))


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=RotatedSecret)
async def rotate_secret(
    webhook_id: str, seller: AgentId, session: Session, state: State
) -> RotatedSecret:
    """A new secret, returned only here; deliveries are signed with the old one as well (a
    second `v1,` signature) for WEBHOOK_ROTATION_GRACE_HOURS."""
    endpoint = await webhooks.owned(session, webhook_id, seller, SELLER)
    grace = timedelta(hours=state.settings.webhook_rotation_grace_hours)
    secret, until = await webhooks.rotate(session, vault_of(state.settings), endpoint, grace)
    return RotatedSecret(id=endpoint.id, secret=secret, previous_secret_valid_until=until)


@router.post("/webhooks/{webhook_id}/test", status_code=202, response_model=DeliveryResponse)
async def send_test(webhook_id: str, seller: AgentId, state: State) -> DeliveryResponse:
    """Queue a `test` event for this webhook now; follow it in its deliveries."""
    return DeliveryResponse.model_validate(await flow.send_test(state, seller, SELLER, webhook_id))


async def delivery_page(
    session: Session,
    owner: uuid.UUID,
    kind: EndpointKind,
    webhook_id: str,
    status: DeliveryStatus | None,
    page: int,
    page_size: int,
) -> DeliveryList:
    endpoint = await webhooks.owned(session, webhook_id, owner, kind)
    total, rows = await webhooks.deliveries(session, endpoint, status, page, page_size)
    return DeliveryList(
        total=total,
        page=page,
        page_size=page_size,
        deliveries=[DeliveryResponse.model_validate(row) for row in rows],
    )
