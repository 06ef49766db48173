"""The redemption flow as the API drives it: open (credits held), decisions, live status."""

import uuid
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from api.flows import Launch, Opened, open_flow, update
from api.state import AppState
from core.db import read_only
from core.errors import InvalidState
from domain import redemptions
from workflows.contracts import Update
from workflows.contracts import redemption as contract
from workflows.contracts.redemption import RedemptionState, RedemptionStatus, RedemptionTerms

A = TypeVar("A")


def redemption_id(creator: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    return uuid.uuid5(creator, f"redemption:{idempotency_key}") if idempotency_key else uuid.uuid4()


async def open_redemption(
    app: AppState,
    creator: uuid.UUID,
    redemption_type: str,
    amount_units: int,
    currency: str,
    payout_details: dict[str, Any],
    idempotency_key: str | None,
) -> Opened[RedemptionState]:
    """Hold the credits in payout clearing (402 when not available), then start the workflow."""
    settings = app.settings
    key = redemption_id(creator, idempotency_key)

    async def open_row(session: AsyncSession) -> tuple[RedemptionState, bool]:
        order = await redemptions.order_for(
            session, creator, redemption_type, amount_units, currency, payout_details
        )
        row, replayed = await redemptions.open_redemption(session, key, creator, order, settings)
        return RedemptionState.model_validate(row), replayed

    def launch(opened: RedemptionState) -> Launch[RedemptionTerms]:
        return Launch(
            contract.REDEMPTION,
            RedemptionTerms(
                redemption=opened,
                payout_attempts=settings.redemption_payout_attempts,
                retry_seconds=settings.redemption_retry_seconds,
                retry_max_seconds=settings.redemption_retry_max_seconds,
            ),
            opened.workflow_id,
            f"Redemption of {opened.amount_units // 1000} ARD as {opened.redemption_type}",
            TypedSearchAttributes([SearchAttributePair(contract.CREATOR_ID, str(creator))]),
        )

    async def abandon(session: AsyncSession, opened: RedemptionState) -> None:
        reason = "the redemption could not start"
        await redemptions.refund(session, opened.redemption_id, RedemptionStatus.FAILED, reason)

    return await open_flow(app, open_row, launch, abandon)


async def decide(
    app: AppState, redemption: RedemptionState, message: Update[A, RedemptionState], arg: A
) -> RedemptionState:
    """Send a decision to the workflow; a closed redemption refuses it like a wrong state."""

    async def closed() -> RedemptionState:
        async with read_only(app.sessions) as session:
            row = await redemptions.get(session, redemption.redemption_id)
        raise InvalidState(f"This redemption is {row.status}")

    return await update(app, redemption.workflow_id, message, arg, closed=closed)


async def live(app: AppState, redemption: RedemptionState) -> RedemptionState:
    """The status and step history from the workflow; the stored row if it cannot answer."""
    handle = app.temporal.get_workflow_handle(redemption.workflow_id)
    try:
        state: RedemptionState = await handle.query(
            contract.STATE.name, result_type=contract.STATE.result
        )
        return state
    except (RPCError, WorkflowQueryFailedError):
        return redemption
