"""Subscriptions to the catalog: glob patterns on namespace and topic, and category, price and
quality filters. An entry that matches one is sent to its subscriber as a private
`catalog_update` event, one per matching subscription (`subscription_id` in its data): the
subscriber's live feed shows it, and a subscription by webhook has an endpoint of its own
(`domain.webhooks`, filtered to that subscription) that the durable delivery signs and sends.
An agent is never notified of its own entries.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import ColumnElement, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import paginate
from core.errors import NotFound, RuleViolation
from core.ids import parse_id
from core.money import units_to_usdc
from domain import events
from domain.events import EventType
from models.catalog import CatalogEntry, CatalogSubscription

Subscription = CatalogSubscription

WEBSOCKET, WEBHOOK = "websocket", "webhook"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"


class WebhookUrlRequired(RuleViolation):
    code = "webhook_url_required"


@dataclass(frozen=True)
class Interest:
    namespace_pattern: str
    topic_pattern: str = "*"
    category_filter: str | None = None
    max_price_units: int | None = None
    min_quality: Decimal | None = None
    notify_via: str = WEBSOCKET


def like_of(pattern: str) -> str | None:
    """The glob as a LIKE pattern escaped with `\\` (`*` any run, `?` one character), or None
    when it has a character class, which LIKE cannot say."""
    if "[" in pattern:
        return None
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _may_match(pattern: Any, value: str) -> ColumnElement[bool]:
    return or_(pattern.is_(None), literal(value).like(pattern, escape="\\"))


def matches(subscription: CatalogSubscription, entry: CatalogEntry) -> bool:
    """Whether this entry is what the subscription asks for (the rule of api.md)."""
    if subscription.subscriber_id == entry.agent_id or entry.status != "active":
        return False
    if not fnmatchcase(entry.namespace, subscription.namespace_pattern):
        return False
    if not fnmatchcase(entry.topic, subscription.topic_pattern):
        return False
    if subscription.category_filter and entry.category != subscription.category_filter:
        return False
    if (
        subscription.max_price_units is not None
        and entry.price_range_min_units > subscription.max_price_units
    ):
        return False
    return subscription.min_quality is None or entry.quality_avg >= subscription.min_quality


def describe(entry: CatalogEntry) -> dict[str, Any]:
    """The entry as a `catalog_update` carries it (prices already as USDC strings)."""
    return {
        "id": str(entry.id),
        "agent_id": str(entry.agent_id),
        "namespace": entry.namespace,
        "topic": entry.topic,
        "description": entry.description,
        "category": entry.category,
        "price_range_min": units_to_usdc(entry.price_range_min_units),
        "price_range_max": units_to_usdc(entry.price_range_max_units),
        "quality_avg": str(entry.quality_avg),
        "active_listings_count": entry.active_listings_count,
        "status": entry.status,
    }


async def notify(session: AsyncSession, entry: CatalogEntry, change: str) -> int:
    """A `catalog_update` for each subscription the entry matches, in the caller's
    transaction; how many were sent."""
    s = CatalogSubscription
    candidates = await session.scalars(  # SQL narrows; `matches` decides (case, classes)
        select(s).where(
            s.subscriber_id != entry.agent_id,
            _may_match(s.namespace_like, entry.namespace),
            _may_match(s.topic_like, entry.topic),
            or_(s.category_filter.is_(None), s.category_filter == entry.category),
            or_(s.max_price_units.is_(None), s.max_price_units >= entry.price_range_min_units),
            or_(s.min_quality.is_(None), s.min_quality <= entry.quality_avg),
        )
    )
    sent = 0
    for subscription in candidates:
        if not matches(subscription, entry):
            continue
        payload = {
            "subscription_id": str(subscription.id),
            "change": change,
            "entry": describe(entry),
        }
        events.emit(
            session, EventType.CATALOG_UPDATE, payload, audience=[subscription.subscriber_id]
        )
        sent += 1
    return sent


def new(
    subscription_id: uuid.UUID, subscriber: uuid.UUID, interest: Interest
) -> CatalogSubscription:
    return CatalogSubscription(
        id=subscription_id,
        subscriber_id=subscriber,
        namespace_pattern=interest.namespace_pattern,
        topic_pattern=interest.topic_pattern,
        namespace_like=like_of(interest.namespace_pattern),
        topic_like=like_of(interest.topic_pattern),
        category_filter=interest.category_filter,
        max_price_units=interest.max_price_units,
        min_quality=interest.min_quality,
        notify_via=interest.notify_via,
    )


async def owned(
    session: AsyncSession, subscription_id: str, subscriber: uuid.UUID
) -> CatalogSubscription:
    """The caller's subscription; anyone else's (a private resource), or none, is 404."""
    key = parse_id(subscription_id)
    found = await session.get(CatalogSubscription, key) if key else None
    if found is None or found.subscriber_id != subscriber:
        raise SubscriptionNotFound(f"No subscription {subscription_id}")
    return found


async def page(
    session: AsyncSession, subscriber: uuid.UUID, page: int, page_size: int
) -> tuple[int, list[CatalogSubscription]]:
    query = select(CatalogSubscription).where(CatalogSubscription.subscriber_id == subscriber)
    order = (CatalogSubscription.created_at, CatalogSubscription.id)
    return await paginate(session, query, *order, page=page, page_size=page_size)
