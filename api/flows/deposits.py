"""The deposit flow as the API drives it: open a pending deposit, confirm its payment."""

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.flows import Launch, Opened, open_flow, update
from api.state import AppState
from core.clock import utcnow
from core.db import read_only, unit_of_work
from core.errors import InvalidState, Unavailable
from core.ids import deposit_workflow, parse_id
from domain.wallet import deposits
from workflows.contracts import deposit as contract
from workflows.contracts.deposit import Confirmation, DepositState, DepositStatus, DepositTerms


def deposit_id(agent: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    return uuid.uuid5(agent, f"deposit:{idempotency_key}") if idempotency_key else uuid.uuid4()


async def open_deposit(
    app: AppState,
    agent: uuid.UUID,
    amount_fiat: Decimal,
    currency: str,
    idempotency_key: str | None,
) -> Opened[DepositState]:
    key = deposit_id(agent, idempotency_key)
    expires_at = utcnow() + timedelta(seconds=app.settings.deposit_expiry_seconds)

    async def open_row(session: AsyncSession) -> tuple[DepositState, bool]:
        row, replayed = await deposits.open_deposit(
            session, key, agent, amount_fiat, currency, expires_at
        )
        return DepositState.model_validate(row), replayed

    def launch(opened: DepositState) -> Launch[DepositTerms]:
        return Launch(
            contract.DEPOSIT,
            DepositTerms(deposit=opened),
            deposit_workflow(opened.deposit_id),
            f"Deposit of {opened.amount_fiat} {opened.currency}",
        )

    async def abandon(session: AsyncSession, opened: DepositState) -> None:
        await deposits.expire(session, opened.deposit_id)

    return await open_flow(app, open_row, launch, abandon)


async def confirm(
    app: AppState, deposit: str, confirmed_by: str, callback: deposits.Callback | None = None
) -> DepositState:
    """Credit the deposit once (or fail it, when the provider's callback says the payment
    failed); confirming a completed deposit again answers it as it is. A callback acts only on
    the deposit it describes exactly, and once per `webhook-id`."""
    key = parse_id(deposit)
    if key is None:
        raise deposits.DepositNotFound(f"Deposit {deposit} not found")
    if callback is not None:
        async with unit_of_work(app.sessions) as session:
            await deposits.accept_callback(session, key, callback)
    paid = callback is None or callback.paid
    outcome = DepositStatus.COMPLETED if paid else DepositStatus.FAILED

    async def closed() -> DepositState:
        async with read_only(app.sessions) as session:
            return DepositState.model_validate(await deposits.get(session, key))

    confirmation = Confirmation(confirmed_by=confirmed_by, paid=paid)
    workflow_id = deposit_workflow(key)
    try:
        confirmed = await update(app, workflow_id, contract.CONFIRM, confirmation, closed=closed)
    except Unavailable:
        if callback is not None:
            async with unit_of_work(app.sessions) as session:
                await deposits.forget_callback(session, callback.webhook_id)
        raise
    if confirmed.status != outcome:
        raise InvalidState(f"Deposit {deposit} is {confirmed.status}")
    return confirmed
