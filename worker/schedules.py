"""Schedules, created or updated idempotently at worker start."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core import ids
from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleDefinition:
    id: str
    workflow: str
    every: timedelta
    workflow_id: str

    def build(self, task_queue: str) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(
                self.workflow, id=self.workflow_id, task_queue=task_queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=self.every)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )


def definitions(settings: Settings) -> list[ScheduleDefinition]:
    return [
        ScheduleDefinition(
            id=ids.HOUSEKEEPING_SCHEDULE,
            workflow="HousekeepingWorkflow",
            every=timedelta(hours=1),
            workflow_id=ids.HOUSEKEEPING_SCHEDULE,
        ),
        ScheduleDefinition(
            id=ids.LEDGER_AUDIT_SCHEDULE,
            workflow="LedgerAuditWorkflow",
            every=timedelta(minutes=settings.ledger_audit_interval_minutes),
            workflow_id=ids.LEDGER_AUDIT_SCHEDULE,
        ),
        ScheduleDefinition(
            id=ids.CDN_DECAY_SCHEDULE,
            workflow="CacheDecayWorkflow",
            every=timedelta(seconds=settings.cdn_decay_interval_seconds),
            workflow_id=ids.CDN_DECAY_SCHEDULE,
        ),
    ]


async def ensure(client: Client, settings: Settings) -> list[str]:
    """Create each schedule, or bring an existing one up to date with its definition."""
    done = []
    for definition in definitions(settings):
        schedule = definition.build(settings.temporal_task_queue)
        try:
            await client.create_schedule(definition.id, schedule)
            log.info("schedule created", extra={"schedule": definition.id})
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(definition.id).update(replace)
            log.info("schedule updated", extra={"schedule": definition.id})
        done.append(definition.id)
    return done
