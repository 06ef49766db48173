"""Business ids of every workflow and ledger movement, in one place.

Workflow ids are derived from business ids so that a duplicate start finds the running one;
idempotency keys are derived from the workflow id and the step so that a retry is a no-op.
"""

import uuid


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def parse_id(value: str) -> uuid.UUID | None:
    """A UUID from a path parameter, or None for anything malformed (callers answer 404)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


HOUSEKEEPING_SCHEDULE = "housekeeping"


LEDGER_AUDIT_SCHEDULE = "ledger-audit"
CDN_DECAY_SCHEDULE = "cdn-decay"
MONTHLY_PAYOUT_SCHEDULE = "monthly-payout"
DEMAND_AGGREGATION_SCHEDULE = "demand-aggregation"


def deposit_workflow(deposit_id: uuid.UUID) -> str:
    return f"deposit:{deposit_id}"


def transfer_key(sender_id: uuid.UUID, idempotency_key: str | None) -> str:
    """The ledger key of a transfer: from the caller's Idempotency-Key when given."""
    return f"transfer:{sender_id}:{idempotency_key or uuid.uuid4().hex}"


def purchase_workflow(transaction_id: uuid.UUID) -> str:
    return f"purchase:{transaction_id}"


def verification_workflow(transaction_id: uuid.UUID) -> str:
    return f"verify:{transaction_id}"


def redemption_workflow(redemption_id: uuid.UUID) -> str:
    return f"redemption:{redemption_id}"


def payout_workflow(creator_id: uuid.UUID, period: str) -> str:
    """A creator's payout of one month (`YYYY-MM`): one workflow id, so one payout."""
    return f"payout:{creator_id}:{period}"


def payout_run_workflow(period: str) -> str:
    return f"payout-run:{period}"


def webhook_dispatch_workflow(task_queue: str) -> str:
    """The outbox's one dispatcher for the workers of this task queue."""
    return f"webhook-dispatch:{task_queue}"


def webhook_workflow(endpoint_id: uuid.UUID) -> str:
    """The delivery workflow of one webhook endpoint (ADR 0023)."""
    return f"webhook:{endpoint_id}"
