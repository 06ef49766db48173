"""Housekeeping (schedule `housekeeping`, hourly): records past their retention are deleted."""

from datetime import datetime

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow


class PurgeResult(BaseModel):
    purged: int


class HousekeepingReport(BaseModel):
    idempotency_keys: int
    events: int


HOUSEKEEPING = Workflow[None, HousekeepingReport]("HousekeepingWorkflow", HousekeepingReport)

PURGE_IDEMPOTENCY_KEYS = Activity[[datetime], PurgeResult](
    "idempotency.purge_expired", PurgeResult, "Delete expired Idempotency-Key records"
)
PURGE_EVENTS = Activity[[datetime], PurgeResult](
    "events.purge_expired", PurgeResult, "Delete outbox events older than EVENT_RETENTION_DAYS"
)
