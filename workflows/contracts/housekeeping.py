"""Housekeeping (schedule `housekeeping`, hourly): records past their retention are deleted."""

from datetime import datetime

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow


class PurgeResult(BaseModel):
    purged: int


class HousekeepingReport(BaseModel):
    idempotency_keys: int
    events: int
    webhook_deliveries: int
    deposit_callbacks: int
    search_signals: int


HOUSEKEEPING = Workflow[None, HousekeepingReport]("HousekeepingWorkflow", HousekeepingReport)

PURGE_IDEMPOTENCY_KEYS = Activity[[datetime], PurgeResult](
    "idempotency.purge_expired", PurgeResult, "Delete expired Idempotency-Key records"
)
PURGE_EVENTS = Activity[[datetime], PurgeResult](
    "events.purge_expired", PurgeResult, "Delete outbox events older than EVENT_RETENTION_DAYS"
)
PURGE_WEBHOOK_DELIVERIES = Activity[[datetime], PurgeResult](
    "webhooks.purge_deliveries",
    PurgeResult,
    "Delete finished webhook deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS",
)
PURGE_DEPOSIT_CALLBACKS = Activity[[datetime], PurgeResult](
    "deposits.purge_callbacks",
    PurgeResult,
    "Forget payment-callback ids a day old (their signatures expired long before)",
)
PURGE_SEARCH_SIGNALS = Activity[[datetime], PurgeResult](
    "demand.purge_expired",
    PurgeResult,
    "Delete search signals older than SEARCH_SIGNAL_RETENTION_DAYS and rollups below the window",
)
