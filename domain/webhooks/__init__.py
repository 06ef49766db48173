"""Webhook endpoints: an agent registers a URL for event types it may see, lists, deletes,
re-enables and re-keys its own, and reads its deliveries.

An endpoint is a seller webhook (Standard Webhooks) or an OpenClaw gateway (`kinds`). It
receives the events committed after its registration whose type it subscribed to: public ones,
and private ones whose audience includes its owner (`subscribes`). Its secret is stored sealed
(`core.vault`) and shown only when created. Delivery: `dispatch` queues, `delivery` sends.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import signatures
from core.clock import utcnow
from core.db import paginate
from core.errors import InvalidState, NotFound, RuleViolation
from core.ids import parse_id
from core.vault import Vault
from domain import audit
from domain.audit import AuditEvent
from domain.events import EventType, Visibility
from domain.webhooks import guard
from domain.webhooks.kinds import KINDS
from models.events import Event
from models.webhooks import WebhookDelivery, WebhookEndpoint
from workflows.contracts.webhooks import DeliveryStatus, EndpointKind, EndpointStatus

# Types an agent may subscribe to: those it may see on the feed.
SUBSCRIBABLE = frozenset(
    t for t in EventType if t.visibility in (Visibility.PUBLIC, Visibility.PRIVATE)
)
TEST_EVENT = "test"


class WebhookNotFound(NotFound):
    code = "webhook_not_found"


class EventTypeNotAllowed(RuleViolation):
    code = "event_type_not_allowed"


class InvalidWebhookSecret(RuleViolation):
    code = "invalid_webhook_secret"


@dataclass(frozen=True)
class Subscription:
    kind: EndpointKind
    url: str
    event_types: list[str]
    secret: str  # the signing secret, or the gateway's bearer token
    filters: dict[str, Any] = field(default_factory=dict)


async def register(
    session: AsyncSession,
    vault: Vault,
    allowlist: guard.Allowlist,
    owner_id: uuid.UUID,
    subscription: Subscription,
) -> WebhookEndpoint:
    refused = sorted(set(subscription.event_types) - SUBSCRIBABLE)
    if refused or not subscription.event_types:
        raise EventTypeNotAllowed(
            f"Not event types an agent may subscribe to: {', '.join(refused) or 'none given'}",
            allowed=sorted(SUBSCRIBABLE),
        )
    if subscription.kind is EndpointKind.SELLER:
        try:
            signatures.key_of(subscription.secret)
        except signatures.InvalidSecret as exc:
            raise InvalidWebhookSecret(f"The secret is not valid: {exc}") from None
    await guard.vet(subscription.url, allowlist)
    endpoint = WebhookEndpoint(
        owner_id=owner_id,
        kind=subscription.kind,
        url=subscription.url,
        event_types=sorted(set(subscription.event_types)),
        filters=subscription.filters,
        secret=vault.seal(subscription.secret),
        status=EndpointStatus.ACTIVE,
        consecutive_failures=0,
        awake=False,
    )
    session.add(endpoint)
    await session.flush()
    await audit.record(
        session,
        AuditEvent.WEBHOOK_REGISTERED,
        actor=audit.party("agent", owner_id),
        subject=audit.party("webhook", endpoint.id),
        details={"kind": endpoint.kind, "url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint


def subscribes(endpoint: WebhookEndpoint, event: Event) -> bool:
    """Whether the endpoint receives this event (before its kind's own filters)."""
    if event.type not in endpoint.event_types or event.created_at < endpoint.created_at:
        return False
    if EventType(event.type).visibility is Visibility.PRIVATE:
        return str(endpoint.owner_id) in event.audience
    return event.type in SUBSCRIBABLE


async def owned(
    session: AsyncSession, endpoint_id: str | uuid.UUID, owner_id: uuid.UUID, kind: EndpointKind
) -> WebhookEndpoint:
    """The caller's endpoint of this kind; anyone else's, or none, is 404."""
    key = parse_id(str(endpoint_id))
    found = await session.get(WebhookEndpoint, key) if key else None
    if found is None or found.owner_id != owner_id or found.kind != kind:
        raise WebhookNotFound(f"No webhook {endpoint_id}")
    return found


async def page(
    session: AsyncSession, owner_id: uuid.UUID, kind: EndpointKind, page: int, page_size: int
) -> tuple[int, list[WebhookEndpoint]]:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.owner_id == owner_id, WebhookEndpoint.kind == kind
    )
    return await paginate(
        session,
        query,
        WebhookEndpoint.created_at,
        WebhookEndpoint.id,
        page=page,
        page_size=page_size,
    )


@dataclass(frozen=True)
class Summary:
    webhooks: int
    active: int
    paused: int
    last_delivery_at: datetime | None
    last_error: str | None


async def summary(session: AsyncSession, owner_id: uuid.UUID, kind: EndpointKind) -> Summary:
    """How the owner's endpoints of this kind stand: counts, last success, last error."""
    statuses = list(
        await session.scalars(
            select(WebhookEndpoint.status).where(
                WebhookEndpoint.owner_id == owner_id, WebhookEndpoint.kind == kind
            )
        )
    )
    mine = select(WebhookEndpoint.id).where(
        WebhookEndpoint.owner_id == owner_id, WebhookEndpoint.kind == kind
    )
    last_delivery_at = await session.scalar(
        select(func.max(WebhookDelivery.delivered_at)).where(WebhookDelivery.endpoint_id.in_(mine))
    )
    last_error = await session.scalar(
        select(WebhookDelivery.error)
        .where(WebhookDelivery.endpoint_id.in_(mine), WebhookDelivery.error.is_not(None))
        .order_by(WebhookDelivery.last_attempt_at.desc())
        .limit(1)
    )
    active = statuses.count(EndpointStatus.ACTIVE)
    return Summary(len(statuses), active, len(statuses) - active, last_delivery_at, last_error)


async def delete(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries (deliveries first: the order delivery outcomes lock
    them in); its workflow finds it gone and ends."""
    await session.execute(
        sql_delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    )
    await session.delete(endpoint)
    await session.flush()
    await audit.record(
        session,
        AuditEvent.WEBHOOK_DELETED,
        actor=audit.party("agent", endpoint.owner_id),
        subject=audit.party("webhook", endpoint.id),
        details={"url": endpoint.url},
    )


async def enable(session: AsyncSession, endpoint: WebhookEndpoint) -> bool:
    """Active again: its pending deliveries resume when due. True when its queue needs waking."""
    [endpoint] = await lock(session, [endpoint.id])
    if endpoint.status == EndpointStatus.ACTIVE:
        return False
    endpoint.status = EndpointStatus.ACTIVE
    endpoint.paused_reason = None
    endpoint.consecutive_failures = 0
    return rouse(endpoint)


def rouse(endpoint: WebhookEndpoint) -> bool:
    """Mark the endpoint's queue owned by a workflow; True when the caller must wake it (after
    committing). The caller holds the endpoint's row lock (`lock`)."""
    if endpoint.awake:
        return False
    endpoint.awake = True
    return True


async def lock(session: AsyncSession, endpoint_ids: list[uuid.UUID]) -> list[WebhookEndpoint]:
    """These endpoints, locked in id order (queueing and draining serialize on the row)."""
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id.in_(sorted(endpoint_ids)))
        .order_by(WebhookEndpoint.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def rotate(
    session: AsyncSession, vault: Vault, endpoint: WebhookEndpoint, grace: timedelta
) -> tuple[str, datetime]:
    """A new signing secret; the current one keeps signing beside it for `grace`."""
    secret = signatures.new_secret()
    until = utcnow() + grace
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, until
    endpoint.secret = vault.seal(secret)
    await session.flush()
    return secret, until


def secrets_of(vault: Vault, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and a rotated one in its grace."""
    current = [vault.open(endpoint.secret)]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and now < until:
        return [*current, vault.open(endpoint.previous_secret)]
    return current


async def deliveries(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    status: DeliveryStatus | None,
    page: int,
    page_size: int,
) -> tuple[int, list[WebhookDelivery]]:
    """Newest first."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return await paginate(
        session,
        query,
        WebhookDelivery.created_at.desc(),
        WebhookDelivery.id,
        page=page,
        page_size=page_size,
    )


def delivery_row(
    endpoint: WebhookEndpoint, envelope: dict[str, Any], body: str | None = None
) -> dict[str, Any]:
    """A pending delivery of this event (its envelope) to the endpoint, due now, as the row to
    insert; the caller holds the endpoint's row lock and then `rouse`s it."""
    now = utcnow()
    return {
        "id": uuid.uuid4(),
        "endpoint_id": endpoint.id,
        "event_id": uuid.UUID(envelope["id"]),
        "event_type": envelope["type"],
        "body": body if body is not None else KINDS[endpoint.kind].body(envelope),
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def queue_test(
    session: AsyncSession, endpoint: WebhookEndpoint
) -> tuple[WebhookDelivery, bool]:
    """A `test` event for this endpoint alone, delivered like any other. Returns the delivery
    and whether the endpoint's queue needs waking."""
    [endpoint] = await lock(session, [endpoint.id])
    if endpoint.status != EndpointStatus.ACTIVE:
        raise InvalidState("This webhook is paused: enable it first")
    envelope = {
        "id": str(uuid.uuid4()),
        "type": TEST_EVENT,
        "timestamp": utcnow().isoformat(),
        "data": {"message": "A test event from AgentChains", "webhook_id": str(endpoint.id)},
    }
    delivery = WebhookDelivery(**delivery_row(endpoint, envelope))
    session.add(delivery)
    await session.flush()
    return delivery, rouse(endpoint)
