"""Webhook endpoints as their owners change them; a change that gives an endpoint something to
deliver (re-enabling it, a test event) wakes its delivery workflow after committing.

A wake-up that cannot be sent (Temporal unreachable) loses nothing: the delivery is committed,
and the dispatcher wakes every endpoint left with pending deliveries within a minute.
"""

import logging
import uuid

from temporalio.service import RPCError

from api.state import AppState
from core.db import unit_of_work
from core.vault import vault_of
from domain import webhooks
from domain.webhooks import guard
from workflows.contracts import webhooks as contract
from workflows.contracts.webhooks import EndpointKind

log = logging.getLogger(__name__)


async def register(
    app: AppState, owner: uuid.UUID, subscription: webhooks.Subscription
) -> webhooks.WebhookEndpoint:
    """Refused with 422 when its URL is not public (the SSRF guard), its types are not ones
    the owner may see, or its secret is not a Standard Webhooks secret."""
    allowlist = guard.Allowlist.parse(app.settings.webhook_allowlist)
    async with unit_of_work(app.sessions) as session:
        return await webhooks.register(
            session, vault_of(app.settings), allowlist, owner, subscription
        )


async def enable(
    app: AppState, owner: uuid.UUID, kind: EndpointKind, endpoint_id: str
) -> webhooks.WebhookEndpoint:
    async with unit_of_work(app.sessions) as session:
        endpoint = await webhooks.owned(session, endpoint_id, owner, kind)
        woken = await webhooks.enable(session, endpoint)
    if woken:
        await _wake(app, endpoint.id, owner)
    return endpoint


async def send_test(
    app: AppState, owner: uuid.UUID, kind: EndpointKind, endpoint_id: str
) -> webhooks.WebhookDelivery:
    async with unit_of_work(app.sessions) as session:
        endpoint = await webhooks.owned(session, endpoint_id, owner, kind)
        delivery, woken = await webhooks.queue_test(session, endpoint)
    if woken:
        await _wake(app, endpoint.id, owner)
    return delivery


async def _wake(app: AppState, endpoint_id: uuid.UUID, owner: uuid.UUID) -> None:
    try:
        await contract.wake(app.temporal, app.settings.temporal_task_queue, [(endpoint_id, owner)])
    except RPCError:
        log.warning(
            "webhook wake-up not sent; the dispatcher sends it",
            extra={"endpoint": str(endpoint_id)},
        )
