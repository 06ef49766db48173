"""Catalog subscriptions as their subscribers make and drop them. One by webhook gets an
endpoint of the durable webhook delivery (`domain.webhooks`: SSRF guard, Standard Webhooks
signature, retries, pausing) subscribed to `catalog_update` and filtered to this subscription,
made in the same transaction."""

import uuid
from dataclasses import dataclass

from api.state import AppState
from core import signatures
from core.db import unit_of_work
from core.vault import vault_of
from domain import webhooks
from domain.catalog import subscriptions
from domain.events import EventType
from domain.webhooks import guard
from workflows.contracts.webhooks import EndpointKind


@dataclass(frozen=True)
class Subscribed:
    subscription: subscriptions.Subscription
    webhook_secret: str | None


async def subscribe(
    app: AppState, subscriber: uuid.UUID, interest: subscriptions.Interest, url: str | None
) -> Subscribed:
    """Refused with 422 `webhook_url_required` by webhook without a URL, and
    `webhook_url_not_allowed` when the URL is not public."""
    if interest.notify_via == subscriptions.WEBHOOK and not url:
        raise subscriptions.WebhookUrlRequired("notify_via webhook needs a webhook_url")
    subscription = subscriptions.new(uuid.uuid4(), subscriber, interest)
    secret = None
    async with unit_of_work(app.sessions) as session:
        session.add(subscription)
        await session.flush()
        if interest.notify_via == subscriptions.WEBHOOK and url:
            secret = signatures.new_secret()
            endpoint = await webhooks.register(
                session,
                vault_of(app.settings),
                guard.Allowlist.parse(app.settings.webhook_allowlist),
                subscriber,
                webhooks.Subscription(
                    EndpointKind.SELLER,
                    url,
                    [EventType.CATALOG_UPDATE],
                    secret,
                    {"subscription_id": str(subscription.id)},
                ),
            )
            subscription.webhook_endpoint_id = endpoint.id
            await session.flush()
    return Subscribed(subscription, secret)


async def unsubscribe(app: AppState, subscriber: uuid.UUID, subscription_id: str) -> None:
    """The subscription, and its webhook endpoint with its deliveries."""
    async with unit_of_work(app.sessions) as session:
        subscription = await subscriptions.owned(session, subscription_id, subscriber)
        endpoint_id = subscription.webhook_endpoint_id
        await session.delete(subscription)
        await session.flush()
        if endpoint_id is not None:
            endpoint = await session.get(webhooks.WebhookEndpoint, endpoint_id)
            if endpoint is not None:
                await webhooks.delete(session, endpoint)
