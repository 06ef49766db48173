"""Monthly payouts: every creator with a payout method and enough credits is paid their whole
balance once a month, as a redemption keyed by creator and month."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.money import ard_to_units
from core.settings import Settings
from domain.ledger import accounts
from domain.redemptions import Order, details_for, open_redemption
from models.creators import Creator, CreatorStatus
from models.ledger import LedgerAccount
from models.redemptions import Redemption

CURRENCY = {"upi": "INR", "bank_withdrawal": "INR"}  # others are paid in USD


def payout_id(creator_id: uuid.UUID, period: str) -> uuid.UUID:
    return uuid.uuid5(creator_id, f"payout:{period}")


async def eligible_creators(session: AsyncSession, settings: Settings) -> list[uuid.UUID]:
    """Active creators with a payout method whose available balance reaches the minimum."""
    minimum = ard_to_units(settings.creator_min_withdrawal_ard)
    rich = await session.scalars(
        select(LedgerAccount.owner_id).where(
            LedgerAccount.owner_kind == "creator", LedgerAccount.balance >= minimum
        )
    )
    candidates = [uuid.UUID(owner) for owner in rich]
    rows = await session.scalars(
        select(Creator.id)
        .where(
            Creator.id.in_(candidates),
            Creator.status == CreatorStatus.ACTIVE,
            Creator.payout_method.is_not(None),
        )
        .order_by(Creator.id)
    )
    return list(rows)


async def open_payout(
    session: AsyncSession, creator_id: uuid.UUID, period: str, settings: Settings
) -> Redemption | None:
    """This month's payout of the creator's whole available balance (the one already opened, if
    any), or None when the creator is no longer eligible."""
    existing = await session.scalar(
        select(Redemption).where(Redemption.creator_id == creator_id, Redemption.period == period)
    )
    if existing is not None:
        return existing
    creator = await session.get(Creator, creator_id)
    account = await accounts.find(session, "creator", creator_id)
    minimum = ard_to_units(settings.creator_min_withdrawal_ard)
    if creator is None or creator.payout_method is None or account is None:
        return None
    if account.balance < minimum:
        return None
    order = Order(
        redemption_type=creator.payout_method,
        amount_units=account.balance,
        currency=CURRENCY.get(creator.payout_method, "USD"),
        payout_details=details_for(creator, creator.payout_method, {}),
    )
    redemption, _ = await open_redemption(
        session, payout_id(creator_id, period), creator_id, order, settings, period=period
    )
    return redemption
