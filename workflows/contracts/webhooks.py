"""Webhook delivery: `WebhookDispatchWorkflow` (`webhook-dispatch:{task queue}`) follows the
outbox and queues a delivery per event and subscribed endpoint; `WebhookEndpointWorkflow`
(`webhook:{endpoint}`) delivers one endpoint's queue, retrying each event with backoff.

Workflows carry ids only: secrets, URLs and bodies stay in the database (ADR 0023).
"""

import asyncio
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from core.ids import webhook_workflow
from core.temporal import AGENT_ID
from workflows.contracts import Activity, Signal, Workflow


class EndpointKind(StrEnum):
    SELLER = "seller"  # Standard Webhooks, signed
    OPENCLAW = "openclaw"  # an OpenClaw gateway: {message, sessionKey} with a bearer token


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


class Drained(BaseModel):
    """What a drain left: `closed` when nothing is pending (or the endpoint is paused or gone),
    else when the next retry is due."""

    closed: bool
    next_due: datetime | None = None


WEBHOOK_DISPATCH = Workflow[int, None]("WebhookDispatchWorkflow", None)
WEBHOOK_ENDPOINT = Workflow[UUID, None]("WebhookEndpointWorkflow", None)

WAKE = Signal("wake")  # the endpoint has new deliveries

FOLLOW_OUTBOX = Activity[[int], None](
    "webhooks.follow_outbox", None, "Queue deliveries for new events, for this many seconds"
)
DRAIN = Activity[[UUID], Drained](
    "webhooks.drain", Drained, "Deliver the endpoint's due events and record each outcome"
)


async def wake(client: Client, task_queue: str, endpoints: Iterable[tuple[UUID, UUID]]) -> None:
    """Signal each endpoint's (endpoint id, owner id) workflow that it has deliveries, starting
    it if it is not running; the owner is its `AgentId` for operators."""
    await asyncio.gather(
        *(
            client.start_workflow(
                WEBHOOK_ENDPOINT.name,
                endpoint_id,
                id=webhook_workflow(endpoint_id),
                task_queue=task_queue,
                start_signal=WAKE.name,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(AGENT_ID, [str(owner_id)])]
                ),
                static_summary=f"Deliveries to webhook {endpoint_id}",
            )
            for endpoint_id, owner_id in endpoints
        )
    )
