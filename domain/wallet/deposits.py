"""Deposits: fiat in, credits out, only once a payment is confirmed by an operator or provider."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import InvalidState, NotFound, RuleViolation, Unauthorized
from core.ids import parse_id
from core.money import UNITS_PER_ARD
from core.security import TokenKind
from domain import audit, events, ledger
from models.deposits import Deposit, DepositCallback
from workflows.contracts.deposit import DepositStatus


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
    deposit_id: uuid.UUID,
    agent_id: uuid.UUID,
    amount_fiat: Decimal,
    currency: str,
    expires_at: datetime,
) -> tuple[Deposit, bool]:
    """Record the pending deposit; the same id again finds the first one (True: replayed)."""
    existing = await session.get(Deposit, deposit_id)
    if existing is not None:
        return _same_deposit(existing, amount_fiat, currency), True
    deposit = Deposit(
        id=deposit_id,
        agent_id=agent_id,
        amount_fiat=amount_fiat,
        currency=currency,
        amount_units=units_for(amount_fiat, currency),
        status=DepositStatus.PENDING,
        payment_reference=payment_reference(deposit_id),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    try:
        async with session.begin_nested():
            session.add(deposit)
    except IntegrityError:  # the same Idempotency-Key, concurrently: that one wins
        return _same_deposit(await get(session, deposit_id), amount_fiat, currency), True
    return deposit, False


def _same_deposit(existing: Deposit, amount_fiat: Decimal, currency: str) -> Deposit:
    if (existing.amount_fiat, existing.currency) != (amount_fiat, currency):
        raise RuleViolation(
            "This Idempotency-Key opened another deposit", code="idempotency_key_reused"
        )
    return existing


async def get(session: AsyncSession, deposit_id: uuid.UUID, *, lock: bool = False) -> Deposit:
    """The deposit; `lock` holds its row until the commit (one confirmation at a time)."""
    deposit = await session.get(Deposit, deposit_id, with_for_update=lock, populate_existing=lock)
    if deposit is None:
        raise DepositNotFound(f"Deposit {deposit_id} not found")
    return deposit


async def of_agent(session: AsyncSession, deposit_id: str, agent_id: uuid.UUID) -> Deposit:
    """An agent sees only its own deposits; to anyone else they do not exist."""
    key = parse_id(deposit_id)
    deposit = await session.get(Deposit, key) if key else None
    if deposit is None or deposit.agent_id != agent_id:
        raise DepositNotFound(f"Deposit {deposit_id} not found")
    return deposit


async def credit(session: AsyncSession, deposit_id: uuid.UUID, confirmed_by: str) -> Deposit:
    """Mint the deposit's credits to the agent, exactly once."""
    deposit = await get(session, deposit_id, lock=True)
    if deposit.status == DepositStatus.COMPLETED:
        return deposit
    if deposit.status != DepositStatus.PENDING:
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
    deposit.status, deposit.confirmed_at = DepositStatus.COMPLETED, utcnow()
    deposit.confirmed_by = confirmed_by
    events.emit(
        session,
        events.EventType.TOKEN_DEPOSIT,
        {
            "deposit_id": str(deposit_id),
            "agent_id": str(deposit.agent_id),
            "amount_units": deposit.amount_units,
            "reason": "deposit",
        },
        audience=[deposit.agent_id],
    )
    await audit.record(
        session,
        audit.AuditEvent.DEPOSIT_CONFIRMED,
        actor=confirmed_by,
        subject=audit.party(TokenKind.AGENT, deposit.agent_id),
        details={
            "deposit_id": str(deposit_id),
            "amount_units": deposit.amount_units,
            "amount_fiat": str(deposit.amount_fiat),
            "currency": deposit.currency,
        },
    )
    return deposit


async def fail(session: AsyncSession, deposit_id: uuid.UUID, reported_by: str) -> Deposit:
    """The provider reports the payment failed: the deposit closes, nothing is minted."""
    deposit = await get(session, deposit_id)
    if deposit.status == DepositStatus.PENDING:
        deposit.status, deposit.confirmed_by = DepositStatus.FAILED, reported_by
    return deposit


@dataclass(frozen=True)
class Callback:
    """What the payment provider's signed callback says about one deposit."""

    webhook_id: str
    deposit_id: uuid.UUID
    paid: bool
    amount_fiat: Decimal
    currency: str
    payment_reference: str | None = None


class CallbackMismatch(RuleViolation):
    code = "callback_mismatch"


class CallbackReplayed(Unauthorized):
    code = "callback_replayed"


async def accept_callback(session: AsyncSession, deposit_id: uuid.UUID, callback: Callback) -> None:
    """A callback acts only on the deposit it names, with that deposit's exact amount and
    currency (and reference, when given), and only once per `webhook-id`."""
    deposit = await get(session, deposit_id)
    named = (callback.deposit_id, callback.amount_fiat, callback.currency)
    if named != (deposit.id, deposit.amount_fiat, deposit.currency) or (
        callback.payment_reference not in (None, deposit.payment_reference)
    ):
        raise CallbackMismatch("The callback does not describe this deposit")
    try:
        async with session.begin_nested():
            session.add(DepositCallback(webhook_id=callback.webhook_id, deposit_id=deposit.id))
    except IntegrityError:
        raise CallbackReplayed("This webhook-id was already used") from None


async def forget_callback(session: AsyncSession, webhook_id: str) -> None:
    """The callback could not be acted on (the workflow service was down): its sender may retry."""
    await session.execute(delete(DepositCallback).where(DepositCallback.webhook_id == webhook_id))


async def purge_callbacks_before(session: AsyncSession, moment: datetime) -> int:
    """Forget callback ids older than `moment` (their signatures expired long before)."""
    result = await session.execute(
        delete(DepositCallback).where(DepositCallback.received_at < moment)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def expire(session: AsyncSession, deposit_id: uuid.UUID) -> Deposit:
    deposit = await get(session, deposit_id)
    if deposit.status == DepositStatus.PENDING:
        deposit.status = DepositStatus.EXPIRED
    return deposit
