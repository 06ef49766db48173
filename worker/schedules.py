"""Schedules, created or updated idempotently at worker start, and the webhook dispatcher."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import WorkflowIDConflictPolicy

from core import ids
from core.settings import Settings
from workflows.contracts.webhooks import WEBHOOK_DISPATCH

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleDefinition:
    id: str
    workflow: str
    spec: ScheduleSpec
    workflow_id: str

    def build(self, task_queue: str) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(
                self.workflow, id=self.workflow_id, task_queue=task_queue
            ),
            spec=self.spec,
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )


def every(interval: timedelta) -> ScheduleSpec:
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)])


def monthly(day: int) -> ScheduleSpec:
    """At 00:00 UTC on this day of every month."""
    midnight = [ScheduleRange(0)]
    calendar = ScheduleCalendarSpec(
        day_of_month=[ScheduleRange(day)], hour=midnight, minute=midnight, second=midnight
    )
    return ScheduleSpec(calendars=[calendar], time_zone_name="UTC")


def definitions(settings: Settings) -> list[ScheduleDefinition]:
    return [
        ScheduleDefinition(
            id=ids.HOUSEKEEPING_SCHEDULE,
            workflow="HousekeepingWorkflow",
            spec=every(timedelta(hours=1)),
            workflow_id=ids.HOUSEKEEPING_SCHEDULE,
        ),
        ScheduleDefinition(
            id=ids.LEDGER_AUDIT_SCHEDULE,
            workflow="LedgerAuditWorkflow",
            spec=every(timedelta(minutes=settings.ledger_audit_interval_minutes)),
            workflow_id=ids.LEDGER_AUDIT_SCHEDULE,
        ),
        ScheduleDefinition(
            id=ids.CDN_DECAY_SCHEDULE,
            workflow="CacheDecayWorkflow",
            spec=every(timedelta(seconds=settings.cdn_decay_interval_seconds)),
            workflow_id=ids.CDN_DECAY_SCHEDULE,
        ),
        ScheduleDefinition(
            id=ids.DEMAND_AGGREGATION_SCHEDULE,
            workflow="DemandAggregationWorkflow",
            spec=every(timedelta(seconds=settings.demand_aggregation_interval_seconds)),
            workflow_id=ids.DEMAND_AGGREGATION_SCHEDULE,
        ),
        ScheduleDefinition(
            id=ids.MONTHLY_PAYOUT_SCHEDULE,
            workflow="MonthlyPayoutWorkflow",
            spec=monthly(settings.creator_payout_day),
            workflow_id="payout-run",  # Temporal appends the scheduled time
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


async def ensure_dispatcher(client: Client, settings: Settings) -> None:
    """Start the webhook dispatcher unless it runs already (it never ends on its own; a worker
    start brings it back if it was stopped)."""
    await client.start_workflow(
        WEBHOOK_DISPATCH.name,
        id=ids.webhook_dispatch_workflow(settings.temporal_task_queue),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="Queue webhook deliveries for new events",
    )
    log.info("webhook dispatcher running")
