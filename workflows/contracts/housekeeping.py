"""Housekeeping (schedule `housekeeping`, hourly): records past their retention are deleted."""

from datetime import datetime

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow


class PurgeResult(BaseModel):
    purged: int


class HousekeepingReport(BaseModel):
    idempotency_keys: int
    events: int
    search_signals: int = 0


HOUSEKEEPING = Workflow[None, HousekeepingReport]("HousekeepingWorkflow", HousekeepingReport)

PURGE_IDEMPOTENCY_KEYS = Activity[[datetime], PurgeResult](
    "idempotency.purge_expired", PurgeResult, "Delete expired Idempotency-Key records"
)
PURGE_EVENTS = Activity[[datetime], PurgeResult](
    "events.purge_expired", PurgeResult, "Delete outbox events older than EVENT_RETENTION_DAYS"
)
PURGE_SEARCH_SIGNALS = Activity[[datetime], PurgeResult](
    "demand.purge_expired",
    PurgeResult,
    "Delete search signals older than SEARCH_SIGNAL_RETENTION_DAYS and rollups below the window",
)
