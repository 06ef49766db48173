"""Deposits: fiat in, credits out, only once a payment is confirmed by an operator or provider."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import InvalidState, NotFound
from core.money import UNITS_PER_ARD
from domain import events, ledger
from models.deposits import Deposit


@dataclass(frozen=True)
class Currency:
    code: str
    name: str
    symbol: str
    rate_per_ard: Decimal  # what one ARD costs in this currency


CURRENCIES = {
    c.code: c
    for c in (
        Currency("USD", "US Dollar", "$", Decimal("0.001")),
        Currency("INR", "Indian Rupee", "₹", Decimal("0.084")),
        Currency("EUR", "Euro", "€", Decimal("0.00092")),
        Currency("GBP", "British Pound", "£", Decimal("0.00079")),
    )
}


class DepositNotFound(NotFound):
    code = "deposit_not_found"


def payment_reference(deposit_id: uuid.UUID) -> str:
    """What the payer quotes so the provider's callback can be matched to the deposit."""
    return f"DEP-{deposit_id.hex[:12].upper()}"


def units_for(amount_fiat: Decimal, currency: str) -> int:
    """Credits bought, rounded down to the unit: never more than was paid for."""
    ard = amount_fiat / CURRENCIES[currency].rate_per_ard
    return int((ard * UNITS_PER_ARD).to_integral_value(ROUND_FLOOR))


async def open_deposit(
    session: AsyncSession,
    *,
    deposit_id: uuid.UUID,
    agent_id: uuid.UUID,
    amount_fiat: Decimal,
    currency: str,
    expires_at: datetime,
) -> Deposit:
    """Record the pending deposit (idempotent by id)."""
    existing = await session.get(Deposit, deposit_id)
    if existing is not None:
        return existing
    deposit = Deposit(
        id=deposit_id,
        agent_id=agent_id,
        amount_fiat=amount_fiat,
        currency=currency,
        amount_units=units_for(amount_fiat, currency),
        payment_reference=payment_reference(deposit_id),
        expires_at=expires_at,
    )
    session.add(deposit)
    await session.flush()
    return deposit


async def get(session: AsyncSession, deposit_id: uuid.UUID, *, lock: bool = False) -> Deposit:
    """The deposit; `lock` holds its row until the commit (one confirmation at a time)."""
    deposit = await session.get(Deposit, deposit_id, with_for_update=lock, populate_existing=lock)
    if deposit is None:
        raise DepositNotFound(f"Deposit {deposit_id} not found")
    return deposit


async def credit(session: AsyncSession, deposit_id: uuid.UUID, confirmed_by: str) -> Deposit:
    """Mint the deposit's credits to the agent, exactly once."""
    deposit = await get(session, deposit_id, lock=True)
    if deposit.status == "completed":
        return deposit
    if deposit.status != "pending":
        raise InvalidState(f"Deposit {deposit_id} is {deposit.status}")
    account = await ledger.open_account(session, "agent", deposit.agent_id)
    issuance = ledger.System.ISSUANCE
    await ledger.record(
        session,
        f"deposit:{deposit_id}",
        ledger.Movement(
            "deposit",
            [ledger.Leg(issuance.id, account.id, deposit.amount_units)],
            deposit.amount_units,
            reference_type="deposit",
            reference_id=str(deposit_id),
            memo=f"{deposit.amount_fiat} {deposit.currency}",
            volumes=[ledger.Volume(account.id, deposited=deposit.amount_units)],
        ),
    )
    deposit.status, deposit.confirmed_at, deposit.confirmed_by = "completed", utcnow(), confirmed_by
    events.emit(
        session,
        "token_deposit",
        {
            "deposit_id": str(deposit_id),
            "agent_id": str(deposit.agent_id),
            "amount": deposit.amount_units,
            "reason": "deposit",
        },
        audience=[deposit.agent_id],
    )
    return deposit


async def expire(session: AsyncSession, deposit_id: uuid.UUID) -> Deposit:
    deposit = await get(session, deposit_id)
    if deposit.status == "pending":
        deposit.status = "expired"
    return deposit
