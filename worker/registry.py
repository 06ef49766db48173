"""One registry of workflows and activities per task queue."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.idempotency import IdempotencyActivities
from core.settings import Settings
from workflows.housekeeping import HousekeepingWorkflow


@dataclass(frozen=True)
class Dependencies:
    """What activities receive from the worker process."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True)
class TaskQueue:
    workflows: Sequence[type]
    activities: Callable[[Dependencies], Sequence[Callable[..., Any]]]


def _main_activities(deps: Dependencies) -> list[Callable[..., Any]]:
    idempotency = IdempotencyActivities(deps.sessions)
    return [idempotency.purge_expired]


def task_queues(settings: Settings) -> dict[str, TaskQueue]:
    return {
        settings.temporal_task_queue: TaskQueue(
            workflows=[HousekeepingWorkflow], activities=_main_activities
        ),
    }
