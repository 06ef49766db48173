"""Sending an endpoint's deliveries and recording each outcome.

Every attempt of an event carries the same `webhook-id` (the event's id) and the same body,
with a fresh timestamp and signature. A failed attempt is retried after
`WEBHOOK_RETRY_BASE_SECONDS` doubled per attempt (plus up to 10% jitter, and at least what a
`Retry-After` asks); an event whose attempts run out counts as failed, and the endpoint is paused
after `max_failures` failed events in a row, or at once when it answers 410 Gone. A redirect is
a failed attempt: it is never followed (the SSRF guard vetted only this URL).
"""

import asyncio
import math
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.settings import Settings
from core.vault import Vault
from domain import audit, webhooks
from domain.audit import AuditEvent
from domain.webhooks import guard
from domain.webhooks.kinds import KINDS, Kind, Rules
from models.webhooks import WebhookDelivery, WebhookEndpoint
from workflows.contracts.webhooks import DeliveryStatus, Drained, EndpointStatus

USER_AGENT = "AgentChains-Webhooks/1.0"
MAX_RETRY_AFTER = timedelta(hours=1)
MAX_ANSWER_BYTES = 65_536
GONE = 410


@dataclass(frozen=True)
class Endpoint:
    """What a drain needs of its endpoint, read once."""

    id: uuid.UUID
    url: str
    kind: Kind
    rules: Rules
    secrets: list[str]
    failing: bool  # it has failed events in a row


@dataclass(frozen=True)
class Due:
    id: uuid.UUID
    event_id: uuid.UUID
    body: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


async def load(
    session: AsyncSession, vault: Vault, settings: Settings, endpoint_id: uuid.UUID
) -> Endpoint | None:
    """The endpoint, if it is still there and active."""
    row = await session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.status != EndpointStatus.ACTIVE:
        return None
    kind = KINDS[row.kind]
    secrets = webhooks.secrets_of(vault, row, utcnow())
    return Endpoint(
        row.id, row.url, kind, kind.rules(settings), secrets, row.consecutive_failures > 0
    )


async def due(session: AsyncSession, endpoint_id: uuid.UUID, limit: int) -> list[Due]:
    rows = await session.execute(
        select(WebhookDelivery.id, WebhookDelivery.event_id, WebhookDelivery.body)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= utcnow(),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.created_at)
        .limit(limit)
    )
    return [Due(row[0], row[1], row[2]) for row in rows]


async def send(
    client: httpx.AsyncClient, target: guard.Target, endpoint: Endpoint, delivery: Due
) -> Outcome:
    """One attempt, to the vetted address. Up to MAX_ANSWER_BYTES of the answer are read (and
    dropped) so its connection can carry the next attempt; a longer answer closes it."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **target.headers,
        **endpoint.kind.headers(
            endpoint.secrets, str(delivery.event_id), int(time.time()), delivery.body
        ),
    }
    try:
        async with (
            asyncio.timeout(endpoint.rules.timeout_seconds),
            client.stream(
                "POST",
                target.connect_url,
                content=delivery.body.encode(),
                headers=headers,
                extensions=target.extensions,
            ) as response,
        ):
            code, retry_after = (
                response.status_code,
                retry_after_seconds(response.headers.get("retry-after")),
            )
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES:
                    break
    except TimeoutError:
        return Outcome(False, error=f"no answer within {endpoint.rules.timeout_seconds}s")
    except httpx.HTTPError as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:300])
    if endpoint.kind.succeeded(code):
        return Outcome(True, code)
    if 300 <= code < 400:
        return Outcome(False, code, "redirects are not followed: update the URL")
    return Outcome(False, code, f"answered {code}", retry_after)


def refused(error: guard.UrlNotAllowed) -> Outcome:
    """An attempt the SSRF guard stopped before any connection."""
    return Outcome(False, error=f"{error.code}: {error.detail}"[:300])


async def record(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    outcomes: list[tuple[Due, Outcome]],
    rules: Rules,
    base_seconds: float,
    failing: bool = True,
) -> str | None:
    """Record a batch of attempts (one statement for the successes); returns why the endpoint
    was paused, if these outcomes paused it. A delivery no longer pending (deleted, or recorded
    by an attempt that outlived its timeout) is left as it is. The deliveries are locked before
    the endpoint, as everywhere. A success resets the failures in a row (when there may be
    some: `failing`)."""
    now = utcnow()
    by_code: dict[int | None, list[uuid.UUID]] = defaultdict(list)
    for due, outcome in outcomes:
        if outcome.ok:
            by_code[outcome.status_code].append(due.id)
    for code, ids in by_code.items():
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.DELIVERED,
                attempts=WebhookDelivery.attempts + 1,
                response_code=code,
                error=None,
                last_attempt_at=now,
                delivered_at=now,
            )
        )
    failed = [
        await _failed(session, due, outcome, rules, base_seconds, now)
        for due, outcome in outcomes
        if not outcome.ok
    ]
    finals = [gone for gone in failed if gone is not None]
    if finals:
        return await _failed_events(session, endpoint_id, rules, finals, bool(by_code))
    if by_code and failing:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures != 0)
            .values(consecutive_failures=0)
        )
    return None


async def _failed(
    session: AsyncSession,
    due: Due,
    outcome: Outcome,
    rules: Rules,
    base_seconds: float,
    now: datetime,
) -> bool | None:
    """A failed attempt: retried later (None), or the event's last one (True when the endpoint
    answered 410 Gone)."""
    delivery = await session.get(WebhookDelivery, due.id, with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code, delivery.error = outcome.status_code, outcome.error
    gone = outcome.status_code == GONE
    if delivery.attempts < rules.attempts and not gone:
        delivery.next_attempt_at = now + backoff(delivery.attempts, base_seconds, outcome)
        return None
    delivery.status = DeliveryStatus.FAILED
    return gone


async def _failed_events(
    session: AsyncSession, endpoint_id: uuid.UUID, rules: Rules, finals: list[bool], reset: bool
) -> str | None:
    """Events whose attempts ran out (after any successes of the batch): failures in a row,
    which may pause the endpoint."""
    locked = await webhooks.lock(session, [endpoint_id])
    if not locked:
        return None
    endpoint = locked[0]
    endpoint.consecutive_failures = (0 if reset else endpoint.consecutive_failures) + len(finals)
    if endpoint.status != EndpointStatus.ACTIVE:
        return None
    if any(finals):
        reason = "the endpoint answered 410 Gone"
    elif endpoint.consecutive_failures >= rules.max_failures:
        reason = f"{endpoint.consecutive_failures} events in a row failed"
    else:
        return None
    endpoint.status, endpoint.paused_reason = EndpointStatus.PAUSED, reason
    await audit.record(
        session,
        AuditEvent.WEBHOOK_PAUSED,
        actor=audit.SYSTEM,
        subject=audit.party("agent", endpoint.owner_id),  # so the owner reads it too
        details={"webhook": str(endpoint.id), "reason": reason},
    )
    return reason


async def purge_finished_before(session: AsyncSession, moment: datetime) -> int:
    """Delete delivered and failed deliveries created before `moment` (pending ones stay)."""
    result = await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status.in_([DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]),
            WebhookDelivery.created_at < moment,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def backoff(attempts: int, base_seconds: float, outcome: Outcome) -> timedelta:
    """The pause after the `attempts`-th failed attempt."""
    pause = base_seconds * 2 ** (attempts - 1) * (1 + random.random() / 10)
    wanted = timedelta(seconds=max(pause, outcome.retry_after or 0))
    return min(wanted, max(MAX_RETRY_AFTER, timedelta(seconds=pause)))


async def settle(session: AsyncSession, endpoint_id: uuid.UUID) -> Drained:
    """After a drain: when the next retry is due, or `closed` (and the queue released, so the
    next delivery queued wakes a workflow) when nothing is pending or the endpoint is paused or
    gone. Under the endpoint's row lock, so no delivery queued meanwhile is left asleep."""
    locked = await webhooks.lock(session, [endpoint_id])
    if not locked:
        return Drained(closed=True)
    endpoint = locked[0]
    next_due: datetime | None = None
    if endpoint.status == EndpointStatus.ACTIVE:
        next_due = await session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
        )
    if next_due is None:
        endpoint.awake = False
        return Drained(closed=True)
    return Drained(closed=False, next_due=next_due)


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` in seconds (its date form is ignored)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) else None
