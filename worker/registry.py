"""One registry of workflows and activities per task queue."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.content import ContentActivities
from activities.deposits import DepositActivities
from activities.idempotency import IdempotencyActivities
from activities.ledger import LedgerActivities
from activities.purchases import PurchaseActivities
from activities.redemptions import RedemptionActivities
from core.settings import Settings
from domain.content.store import ContentStore
from workflows.cache_decay import CacheDecayWorkflow
from workflows.delivery_verification import DeliveryVerificationWorkflow
from workflows.deposit import DepositWorkflow
from workflows.housekeeping import HousekeepingWorkflow
from workflows.ledger_audit import LedgerAuditWorkflow
from workflows.monthly_payout import MonthlyPayoutWorkflow
from workflows.purchase import PurchaseWorkflow
from workflows.redemption import RedemptionWorkflow


@dataclass(frozen=True)
class Dependencies:
    """What activities receive from the worker process."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    content: ContentStore


@dataclass(frozen=True)
class TaskQueue:
    workflows: Sequence[type]
    activities: Callable[[Dependencies], Sequence[Callable[..., Any]]]


def _main_activities(deps: Dependencies) -> list[Callable[..., Any]]:
    idempotency = IdempotencyActivities(deps.sessions)
    deposits = DepositActivities(deps.sessions)
    ledger = LedgerActivities(deps.sessions)
    content = ContentActivities(deps.sessions)
    purchases = PurchaseActivities(deps.sessions, deps.settings, deps.content)
    redemptions = RedemptionActivities(deps.sessions, deps.settings)
    return [
        idempotency.purge_expired,
        deposits.open,
        deposits.credit,
        deposits.expire,
        ledger.audit,
        content.announce_decay,
        purchases.pay,
        purchases.verify_payment,
        purchases.settle_payment,
        purchases.pay_x402,
        purchases.deliver,
        purchases.deliver_from_store,
        purchases.verify,
        purchases.settle,
        purchases.release,
        redemptions.approve,
        redemptions.pay_out,
        redemptions.complete,
        redemptions.refund,
        redemptions.eligible_creators,
        redemptions.open_payout,
        redemptions.record_run,
    ]


def task_queues(settings: Settings) -> dict[str, TaskQueue]:
    return {
        settings.temporal_task_queue: TaskQueue(
            workflows=[
                HousekeepingWorkflow,
                DepositWorkflow,
                LedgerAuditWorkflow,
                CacheDecayWorkflow,
                PurchaseWorkflow,
                DeliveryVerificationWorkflow,
                RedemptionWorkflow,
                MonthlyPayoutWorkflow,
            ],
            activities=_main_activities,
        ),
    }
