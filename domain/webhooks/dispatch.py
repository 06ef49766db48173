"""The dispatcher's step: read the outbox after its cursor, queue a delivery per event and
subscribed endpoint, and move the cursor, all in one transaction, so across crashes an event
is queued once or not yet, never lost or doubled (the unique (endpoint, event) backs it).

The endpoints it queued for that nobody was draining are returned: the caller wakes their
workflows after committing (ADR 0023).
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import events, webhooks
from domain.events.envelope import envelope
from domain.webhooks.kinds import KINDS
from models.events import Event
from models.webhooks import WebhookDelivery, WebhookEndpoint
from workflows.contracts.webhooks import DeliveryStatus, EndpointStatus

CURSOR = "dispatch"
BATCH = 500


@dataclass
class Dispatched:
    read: int = 0  # events read from the outbox
    queued: int = 0  # deliveries queued
    queued_for: set[uuid.UUID] = field(default_factory=set)  # endpoints
    woken: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (endpoint, owner)


async def advance(session: AsyncSession, limit: int = BATCH) -> Dispatched:
    cursor = await events.held_cursor(session, CURSOR)
    batch = await events.after(
        session, events.Cursor(cursor.txid, cursor.sequence), _subscribed(), limit
    )
    done = Dispatched(read=len(batch))
    if not batch:
        return done
    last = events.cursor_of(batch[-1])
    cursor.txid, cursor.sequence = last.txid, last.sequence
    wanted = await _matches(session, batch)
    rows = []
    for endpoint in await webhooks.lock(session, list(wanted)):
        if endpoint.status != EndpointStatus.ACTIVE:
            continue  # paused between the match and the lock
        rows += [webhooks.delivery_row(endpoint, *match) for match in wanted[endpoint.id]]
        done.queued_for.add(endpoint.id)
        if webhooks.rouse(endpoint):
            done.woken.append((endpoint.id, endpoint.owner_id))
    if rows:
        await session.execute(insert(WebhookDelivery), rows)
    done.queued = len(rows)
    await session.flush()
    return done


async def stranded(session: AsyncSession) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Active endpoints with pending deliveries: after a crash their wake-up may have been lost,
    so the dispatcher wakes them all when it starts (a wake-up too many is harmless)."""
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.owner_id)
        .where(
            WebhookEndpoint.status == EndpointStatus.ACTIVE,
            WebhookEndpoint.id.in_(
                select(WebhookDelivery.endpoint_id).where(
                    WebhookDelivery.status == DeliveryStatus.PENDING
                )
            ),
        )
        .order_by(WebhookEndpoint.id)
    )
    return [(row[0], row[1]) for row in rows]


def _subscribed() -> list[str]:
    return sorted(webhooks.SUBSCRIBABLE)


async def _matches(
    session: AsyncSession, batch: list[Event]
) -> dict[uuid.UUID, list[tuple[dict[str, Any], str]]]:
    """Per active endpoint, the (envelope, body) of each batch event it receives, in commit
    order; a body is made once per event and kind of endpoint."""
    types = {event.type for event in batch}
    endpoints = [
        endpoint
        for endpoint in await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.status == EndpointStatus.ACTIVE)
        )
        if types.intersection(endpoint.event_types)
    ]
    wanted: dict[uuid.UUID, list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for event in batch:
        document = envelope(event)
        bodies: dict[str, str] = {}
        for endpoint in endpoints:
            kind = KINDS[endpoint.kind]
            if webhooks.subscribes(endpoint, event) and kind.wants(endpoint.filters, document):
                if endpoint.kind not in bodies:
                    bodies[endpoint.kind] = kind.body(document)
                wanted[endpoint.id].append((document, bodies[endpoint.kind]))
    return wanted
