"""One registry of workflows and activities per task queue.

The main queue carries every flow but purchases; purchases have their own queue, which the
worker process polls and every API process polls too (`worker/api_process.py`), so an express
purchase starts eagerly where its caller waits.
"""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.content import ContentActivities
from activities.demand import DemandActivities
from activities.deposits import DepositActivities
from activities.events import EventActivities
from activities.idempotency import IdempotencyActivities
from activities.ledger import LedgerActivities
from activities.purchases import PurchaseActivities
from activities.redemptions import RedemptionActivities
from activities.webhooks import WebhookActivities
from core.handover import Handover
from core.settings import Settings
from workflows.cache_decay import CacheDecayWorkflow
from workflows.contracts import task_queue
from workflows.contracts.purchase import PURCHASES, PurchaseState
from workflows.delivery_verification import DeliveryVerificationWorkflow
from workflows.demand import DemandAggregationWorkflow
from workflows.deposit import DepositWorkflow
from workflows.housekeeping import HousekeepingWorkflow
from workflows.ledger_audit import LedgerAuditWorkflow
from workflows.monthly_payout import MonthlyPayoutWorkflow
from workflows.purchase import PurchaseWorkflow
from workflows.redemption import RedemptionWorkflow
from workflows.webhooks import WebhookDispatchWorkflow, WebhookEndpointWorkflow


@dataclass(frozen=True)
class Dependencies:
    """What activities receive from the process that runs them."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    read_content: Callable[[str], Awaitable[bytes]]  # the content store, or the API's tiers
    # Express purchases' results, to the API request waiting in this process (ADR 0044).
    express_answers: Handover[uuid.UUID, PurchaseState] = field(default_factory=Handover)


@dataclass(frozen=True)
class TaskQueue:
    workflows: Sequence[type]
    activities: Callable[[Dependencies], Sequence[Callable[..., Any]]]


def implemented(*providers: object) -> list[Callable[..., Any]]:
    """Every activity the objects implement (their `@implements` methods)."""
    return [
        getattr(provider, name)
        for provider in providers
        for name in dir(type(provider))
        if hasattr(getattr(type(provider), name), "__temporal_activity_definition")
    ]


def _main_activities(deps: Dependencies) -> list[Callable[..., Any]]:
    return implemented(
        IdempotencyActivities(deps.sessions),
        EventActivities(deps.sessions, deps.settings),
        DemandActivities(deps.sessions, deps.settings),
        DepositActivities(deps.sessions),
        LedgerActivities(deps.sessions),
        ContentActivities(deps.sessions),
        RedemptionActivities(deps.sessions, deps.settings),
        WebhookActivities(deps.sessions, deps.settings),
    )


def _purchase_activities(deps: Dependencies) -> list[Callable[..., Any]]:
    return implemented(
        PurchaseActivities(deps.sessions, deps.settings, deps.read_content, deps.express_answers)
    )


PURCHASE_QUEUE = TaskQueue(
    workflows=[PurchaseWorkflow, DeliveryVerificationWorkflow], activities=_purchase_activities
)


def task_queues(settings: Settings) -> dict[str, TaskQueue]:
    main = settings.temporal_task_queue
    return {
        main: TaskQueue(
            workflows=[
                HousekeepingWorkflow,
                DepositWorkflow,
                LedgerAuditWorkflow,
                CacheDecayWorkflow,
                DemandAggregationWorkflow,
                RedemptionWorkflow,
                MonthlyPayoutWorkflow,
                WebhookDispatchWorkflow,
                WebhookEndpointWorkflow,
            ],
            activities=_main_activities,
        ),
        task_queue(main, PURCHASES): PURCHASE_QUEUE,
    }
