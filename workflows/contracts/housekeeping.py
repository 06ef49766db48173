"""Housekeeping (schedule `housekeeping`, hourly): records past their retention are deleted."""

from datetime import datetime

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow


class PurgeResult(BaseModel):
    purged: int


HOUSEKEEPING = Workflow[None, PurgeResult]("HousekeepingWorkflow", PurgeResult)

PURGE_IDEMPOTENCY_KEYS = Activity[[datetime], PurgeResult](
    "idempotency.purge_expired", PurgeResult, "Delete expired Idempotency-Key records"
)
