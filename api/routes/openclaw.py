"""The OpenClaw integration: an agent points the marketplace's events at its OpenClaw gateway.
Each event is POSTed as `{message, sessionKey: "agentchains-<type>"}` with the gateway's bearer
token, through the same durable delivery as seller webhooks (its own attempts, timeout and
failure limit: `OPENCLAW_WEBHOOK_*`). Anyone else's webhook is 404."""

from fastapi import APIRouter, Response

from api.deps import AgentId, Session, State
from api.flows import webhooks as flow
from api.routes import API_PREFIX
from api.routes.webhooks import delivery_page
from api.schemas.common import PageNumber, PageSize
from api.schemas.webhooks import (
    DeliveryList,
    DeliveryResponse,
    OpenClawList,
    OpenClawRequest,
    OpenClawStatus,
    OpenClawWebhook,
)
from domain import webhooks
from workflows.contracts.webhooks import DeliveryStatus, EndpointKind

router = APIRouter(prefix=f"{API_PREFIX}/integrations/openclaw", tags=["openclaw"])
OPENCLAW = EndpointKind.OPENCLAW


@router.post("/register-webhook", status_code=201, response_model=OpenClawWebhook)
async def register(body: OpenClawRequest, agent: AgentId, state: State) -> Response:
    """The bearer token is stored sealed and never shown again."""
    filters = body.filters.model_dump(mode="json", exclude_none=True)
    subscription = webhooks.Subscription(
        OPENCLAW, body.gateway_url, [str(t) for t in body.event_types], body.bearer_token, filters
    )
    endpoint = await flow.register(state, agent, subscription)
    headers = {"Location": f"/api/v1/integrations/openclaw/webhooks/{endpoint.id}"}
    view = OpenClawWebhook.model_validate(endpoint)
    return Response(view.model_dump_json(), 201, headers, media_type="application/json")


@router.get("/webhooks", response_model=OpenClawList)
async def mine(
    agent: AgentId, session: Session, page: PageNumber = 1, page_size: PageSize = 20
) -> OpenClawList:
    total, rows = await webhooks.page(session, agent, OPENCLAW, page, page_size)
    return OpenClawList(
        total=total,
        page=page,
        page_size=page_size,
        webhooks=[OpenClawWebhook.model_validate(row) for row in rows],
    )


@router.get("/status", response_model=OpenClawStatus)
async def status(agent: AgentId, session: Session) -> OpenClawStatus:
    summary = await webhooks.summary(session, agent, OPENCLAW)
    return OpenClawStatus(
        connected=summary.active > 0,
        webhooks=summary.webhooks,
        active=summary.active,
        paused=summary.paused,
        last_delivery_at=summary.last_delivery_at,
        last_error=summary.last_error,
    )


@router.get("/webhooks/{webhook_id}", response_model=OpenClawWebhook)
async def one(webhook_id: str, agent: AgentId, session: Session) -> OpenClawWebhook:
    """Where `register-webhook`'s Location points."""
    return OpenClawWebhook.model_validate(
        await webhooks.owned(session, webhook_id, agent, OPENCLAW)
    )


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete(webhook_id: str, agent: AgentId, session: Session) -> Response:
    await webhooks.delete(session, await webhooks.owned(session, webhook_id, agent, OPENCLAW))
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/test", status_code=202, response_model=DeliveryResponse)
async def send_test(webhook_id: str, agent: AgentId, state: State) -> DeliveryResponse:
    """Queue a `test` event for this gateway now; follow it in the webhook's deliveries."""
    return DeliveryResponse.model_validate(await flow.send_test(state, agent, OPENCLAW, webhook_id))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def deliveries(
    webhook_id: str,
    agent: AgentId,
    session: Session,
    status: DeliveryStatus | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> DeliveryList:
    return await delivery_page(session, agent, OPENCLAW, webhook_id, status, page, page_size)


@router.post("/webhooks/{webhook_id}/enable", response_model=OpenClawWebhook)
async def enable(webhook_id: str, agent: AgentId, state: State) -> OpenClawWebhook:
    """Re-enable a paused gateway webhook: its pending deliveries resume."""
    return OpenClawWebhook.model_validate(await flow.enable(state, agent, OPENCLAW, webhook_id))
