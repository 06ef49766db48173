"""Redemptions: a creator cashes credits out. Each step is one unit of work for the
RedemptionWorkflow's activities.

Opening holds the amount in payout clearing; completion moves it to paid out, and a
cancellation, rejection or failure voids the hold back to the creator, exactly once (the ledger
keys come from the redemption: `redemption:{id}:*`, or `payout:{creator}:{YYYY-MM}` for a
monthly payout).
"""

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import ids
from core.clock import utcnow
from core.db import paginate
from core.errors import NotFound, RuleViolation
from core.money import ard_to_units
from core.security import TokenKind
from core.settings import Settings
from domain import audit, creators, events, ledger
from domain.audit import AuditEvent
from domain.events import EventType
from domain.ledger.accounts import of as account_of
from models.creators import Creator
from models.redemptions import PayoutRun, Redemption
from workflows.contracts.payout import PayoutRunStatus
from workflows.contracts.redemption import RedemptionStatus, RedemptionType

S = RedemptionStatus

_METHODS = {
    RedemptionType.API_CREDITS: (
        "API credits",
        "Credits for AgentChains API calls, 1 ARD = 1 credit",
        "instant",
    ),
    RedemptionType.GIFT_CARD: ("Gift card", "A gift card sent to your email", "1-2 business days"),
    RedemptionType.BANK_WITHDRAWAL: (
        "Bank transfer",
        "IMPS/NEFT to your bank account",
        "3-5 business days",
    ),
    RedemptionType.UPI: ("UPI", "Instant transfer to your UPI id", "within 24 hours"),
}


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"


class BelowMinimum(RuleViolation):
    code = "below_minimum"


@dataclass(frozen=True)
class Order:
    redemption_type: str
    amount_units: int
    currency: str = "USD"
    payout_details: dict[str, Any] = field(default_factory=dict)


def minimum_units(settings: Settings, redemption_type: str) -> int:
    ard = {
        RedemptionType.API_CREDITS: settings.redemption_min_api_credits_ard,
        RedemptionType.GIFT_CARD: settings.redemption_min_gift_card_ard,
        RedemptionType.BANK_WITHDRAWAL: settings.redemption_min_bank_ard,
        RedemptionType.UPI: settings.redemption_min_upi_ard,
    }[RedemptionType(redemption_type)]
    return ard_to_units(ard)


def methods(settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "type": kind,
            "label": label,
            "description": description,
            "min_units": minimum_units(settings, kind),
            "min_usd": Decimal(minimum_units(settings, kind)) / 1000 * settings.token_peg_usd,
            "processing_time": timing,
        }
        for kind, (label, description, timing) in _METHODS.items()
    ]


def details_for(creator: Creator, kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """Where the money goes: the details given, else the creator's saved ones for this method;
    a gift card goes to the account's email unless another is given."""
    details = dict(given or (creator.payout_details if creator.payout_method == kind else {}))
    if kind == RedemptionType.GIFT_CARD and "email" not in details:
        details["email"] = creator.email
    return details


async def order_for(
    session: AsyncSession,
    creator_id: uuid.UUID,
    redemption_type: str,
    amount_units: int,
    currency: str,
    payout_details: dict[str, Any],
) -> Order:
    """What a creator asks to redeem, with the payout details it will be paid to."""
    creator = await creators.current(session, creator_id)
    details = details_for(creator, redemption_type, payout_details)
    creators.check_payout_details(redemption_type, details)
    return Order(redemption_type, amount_units, currency, details)


def hold_key(redemption: Redemption) -> str:
    if redemption.period:
        return f"payout:{redemption.creator_id}:{redemption.period}"
    return f"redemption:{redemption.id}:hold"


def _announce(session: AsyncSession, redemption: Redemption, event_type: EventType) -> None:
    events.emit(
        session,
        event_type,
        {
            "redemption_id": str(redemption.id),
            "status": redemption.status,
            "redemption_type": redemption.redemption_type,
            "amount_units": redemption.amount_units,
        },
        audience=[redemption.creator_id],
    )


async def open_redemption(
    session: AsyncSession,
    redemption_id: uuid.UUID,
    creator_id: uuid.UUID,
    order: Order,
    settings: Settings,
    *,
    period: str | None = None,
) -> tuple[Redemption, bool]:
    """Hold the amount in payout clearing (402 when not available) and record the redemption;
    the same id again finds the first one (True: replayed)."""
    if order.amount_units < minimum_units(settings, order.redemption_type):
        raise BelowMinimum(
            f"The minimum for {order.redemption_type} is "
            f"{minimum_units(settings, order.redemption_type) // 1000} ARD"
        )
    existing = await session.get(Redemption, redemption_id)
    if existing is not None:
        return existing, True
    account = await account_of(session, "creator", creator_id)
    workflow_id = (
        ids.payout_workflow(creator_id, period)
        if period
        else ids.redemption_workflow(redemption_id)
    )
    redemption = Redemption(
        id=redemption_id,
        creator_id=creator_id,
        redemption_type=order.redemption_type,
        amount_units=order.amount_units,
        currency=order.currency,
        payout_details=dict(order.payout_details),
        status=S.PENDING,
        workflow_id=workflow_id,
        period=period,
    )
    try:
        async with session.begin_nested():
            session.add(redemption)
    except IntegrityError:  # the same month's payout, opened concurrently: that one wins
        return await get(session, redemption_id), True
    await ledger.hold(
        session,
        hold_key(redemption),
        account.id,
        order.amount_units,
        ("redemption", str(redemption_id)),
        into=ledger.System.PAYOUT_CLEARING,
    )
    _announce(session, redemption, EventType.REDEMPTION_CREATED)
    return redemption, False


async def get(
    session: AsyncSession, redemption_id: uuid.UUID | str, *, lock: bool = False
) -> Redemption:
    """The redemption; `lock` holds its row until the commit (one step at a time)."""
    key = redemption_id if isinstance(redemption_id, uuid.UUID) else ids.parse_id(redemption_id)
    found = (
        await session.get(Redemption, key, with_for_update=lock, populate_existing=lock)
        if key
        else None
    )
    if found is None:
        raise RedemptionNotFound(f"Redemption {redemption_id} not found")
    return found


async def of_creator(
    session: AsyncSession, redemption_id: str, creator_id: uuid.UUID
) -> Redemption:
    """A creator sees only their own redemptions; to anyone else they do not exist."""
    found = await get(session, redemption_id)
    if found.creator_id != creator_id:
        raise RedemptionNotFound(f"Redemption {redemption_id} not found")
    return found


async def page(
    session: AsyncSession, creator_id: uuid.UUID, *, status: str | None, page: int, page_size: int
) -> tuple[int, list[Redemption]]:
    query = select(Redemption).where(Redemption.creator_id == creator_id)
    if status:
        query = query.where(Redemption.status == status)
    order = (Redemption.created_at.desc(), Redemption.id)
    return await paginate(session, query, *order, page=page, page_size=page_size)


async def approve(
    session: AsyncSession, redemption_id: uuid.UUID, approved_by: uuid.UUID | None
) -> Redemption:
    """Start the payout; `approved_by` is the operator (none for a monthly payout)."""
    redemption = await get(session, redemption_id)
    if redemption.status == S.PENDING:
        redemption.status = S.PROCESSING
        _announce(session, redemption, EventType.REDEMPTION_PROCESSING)
        if approved_by is not None:
            await _audit(session, redemption, AuditEvent.REDEMPTION_APPROVED, approved_by)
    return redemption


async def complete(
    session: AsyncSession, redemption_id: uuid.UUID, provider: str | None, reference: str | None
) -> Redemption:
    """The money left: the held credits move from payout clearing to paid out."""
    redemption = await get(session, redemption_id, lock=True)
    if S(redemption.status).final:
        return redemption
    clearing, paid_out = ledger.System.PAYOUT_CLEARING, ledger.System.PAID_OUT
    await ledger.post(
        session,
        hold_key(redemption),
        f"redemption:{redemption.id}:paid",
        ledger.Movement(
            "redemption",
            [ledger.Leg(clearing.id, paid_out.id, redemption.amount_units)],
            redemption.amount_units,
            reference_type="redemption",
            reference_id=str(redemption.id),
            details={"provider": provider, "reference": reference},
        ),
    )
    redemption.status, redemption.completed_at = S.COMPLETED, utcnow()
    redemption.provider, redemption.provider_reference = provider, reference
    _announce(session, redemption, EventType.REDEMPTION_COMPLETED)
    return redemption


async def refund(
    session: AsyncSession,
    redemption_id: uuid.UUID,
    status: RedemptionStatus,
    reason: str,
    rejected_by: uuid.UUID | None = None,
) -> Redemption:
    """Return the held credits to the creator, once, and close as cancelled/rejected/failed;
    `rejected_by` is the operator who rejected it."""
    redemption = await get(session, redemption_id, lock=True)
    if S(redemption.status).final:
        return redemption
    await ledger.void(session, hold_key(redemption), f"redemption:{redemption.id}:refund")
    redemption.status, redemption.reason = status, reason[:500]
    redemption.completed_at = utcnow()
    _announce(session, redemption, EventType(f"redemption_{status}"))
    if status == S.REJECTED and rejected_by is not None:
        await _audit(session, redemption, AuditEvent.REDEMPTION_REJECTED, rejected_by)
    return redemption


async def _audit(
    session: AsyncSession, redemption: Redemption, event: AuditEvent, operator: uuid.UUID
) -> None:
    await audit.record(
        session,
        event,
        actor=audit.party(TokenKind.OPERATOR, operator),
        subject=audit.party(TokenKind.CREATOR, redemption.creator_id),
        details={
            "redemption_id": str(redemption.id),
            "redemption_type": redemption.redemption_type,
            "amount_units": redemption.amount_units,
            "reason": redemption.reason,
        },
    )


async def record_run(session: AsyncSession, period: str, run_id: str) -> PayoutRun:
    """The month's payout run as it stands: every completed payout of the month counts once."""
    run = await session.get(PayoutRun, period, with_for_update=True)
    if run is None:
        run = PayoutRun(period=period, run_ids=[])
        session.add(run)
    paid = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Redemption.amount_units), 0)).where(
                Redemption.period == period, Redemption.status == S.COMPLETED
            )
        )
    ).one()
    run.creators_paid, run.total_units = int(paid[0]), int(paid[1])
    if run_id not in run.run_ids:
        run.run_ids = [*run.run_ids, run_id]
    run.status, run.completed_at = PayoutRunStatus.COMPLETED, utcnow()
    return run


async def payout_runs(
    session: AsyncSession, *, page: int, page_size: int
) -> tuple[int, list[PayoutRun]]:
    query = select(PayoutRun)
    return await paginate(session, query, PayoutRun.period.desc(), page=page, page_size=page_size)
