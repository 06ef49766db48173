"""How a purchase closes: settled (escrow, or at once for express) or released.

A settlement is one movement: the price leaves the buyer's hold (or, for express, the buyer) to
the seller's proceeds, the treasury's fee and the burn (rounded per ADR 0006), with the owning
creator's royalty in the same movement; then the quality bonus from the treasury when it can
pay it in full and buyer and seller do not belong to the same creator, capped below the sale's
fee so that trading back and forth always costs the pair money (ADR 0030).
"""

import contextlib
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.settings import Settings
from domain import creators, ledger, listings, proofs
from domain.content.store import content_key
from domain.demand import signals
from domain.events import EventType
from domain.ledger.accounts import AccountNotFound, Owned, accounts_of, tier_named
from domain.ledger.accounts import of as account_of
from domain.purchases import announce, get, hold_key, verification_of
from models.purchases import Transaction
from workflows.contracts.purchase import PurchaseStatus, VerificationStatus

S = PurchaseStatus


async def settle(session: AsyncSession, tx_id: uuid.UUID, settings: Settings) -> Transaction:
    """The buyer's hold, settled: seller, treasury, burn, royalty, bonus."""
    tx = await get(session, tx_id, lock=True)
    if S(tx.status).final:
        return tx
    sale = await _sale(session, tx, settings, held=True)
    await _completed(session, tx, sale)
    await ledger.post(session, hold_key(tx), f"purchase:{tx.id}:settle", sale.movement)
    await _quality_bonus(session, tx, sale, settings)
    return tx


async def buy_at_once(
    session: AsyncSession, tx_id: uuid.UUID, stored: bytes, settings: Settings
) -> Transaction:
    """Express in one unit of work: the seller's stored content is delivered and verified, then
    the price moves from the buyer straight to seller, treasury and burn (nothing is held, since
    nothing waits). Content that fails verification moves nothing and closes as disputed; not
    enough credits refuses the whole step (402) and nothing is written."""
    tx = await get(session, tx_id, lock=True)
    if S(tx.status).final:
        return tx
    committed = await listings.committed(session, tx.listing_id)
    verdict = verification_of(
        session, tx, content_key(stored), proofs.verify_delivery(stored, committed)
    )
    now = utcnow()
    tx.paid_at = tx.delivered_at = tx.verified_at = now
    tx.delivered_hash = tx.content_hash
    if not verdict.matched:
        tx.verification_status = VerificationStatus.FAILED
        reason = "the stored content does not match the listing"
        tx.status, tx.error_message, tx.completed_at = S.DISPUTED, reason, now
        announce(session, tx, EventType.TRANSACTION_DISPUTED)
        return tx
    tx.verification_status = VerificationStatus.VERIFIED
    announce(session, tx, EventType.PAYMENT_CONFIRMED)
    announce(session, tx, EventType.CONTENT_DELIVERED)
    sale = await _sale(session, tx, settings, held=False)
    await _completed(session, tx, sale)
    await ledger.record(session, f"purchase:{tx.id}:express", sale.movement)
    await _quality_bonus(session, tx, sale, settings)
    return tx


@dataclass(frozen=True)
class _Sale:
    movement: ledger.Movement
    fee: int
    proceeds: int  # the seller's share before any royalty: what a quality bonus is counted on
    seller_account: uuid.UUID
    same_creator: bool  # buyer and seller belong to one creator: no bonus


async def _sale(session: AsyncSession, tx: Transaction, settings: Settings, *, held: bool) -> _Sale:
    """The movement that pays for the purchase out of its hold in escrow (`held`) or straight
    out of the buyer's account; lifetime figures of everyone paid move with it."""
    buyer, seller = await _accounts(session, tx.buyer_id, tx.seller_id)
    source = ledger.System.ESCROW.id if held else buyer.id
    fees = ledger.split(
        tx.amount_units,
        settings.token_platform_fee_pct,
        settings.token_burn_pct,
        tier_named(buyer.tier).discount,
    )
    owners = await creators.owners_of(session, [tx.seller_id, tx.buyer_id])
    owner = owners.get(tx.seller_id)
    royalty = _royalty(fees.receiver, settings) if owner else 0
    legs = [
        ledger.Leg(source, seller.id, fees.receiver - royalty),
        ledger.Leg(source, ledger.System.TREASURY.id, fees.treasury),
        ledger.Leg(source, ledger.System.BURN.id, fees.burned),
    ]
    volumes = [
        ledger.Volume(buyer.id, spent=tx.amount_units, fees=fees.fee),
        ledger.Volume(seller.id, earned=fees.receiver),
    ]
    if owner and royalty:
        creator = await account_of(session, creators.CREATOR, owner)
        legs.append(ledger.Leg(source, creator.id, royalty))
        volumes.append(ledger.Volume(creator.id, earned=royalty))
    movement = ledger.Movement(
        "purchase",
        [g for g in legs if g.amount],
        tx.amount_units,
        fee_amount=fees.fee,
        burn_amount=fees.burned,
        reference_type="transaction",
        reference_id=str(tx.id),
        details={"royalty": royalty, "creator_id": str(owner) if owner else None},
        volumes=volumes,
    )
    same_creator = owner is not None and owner == owners.get(tx.buyer_id)
    return _Sale(movement, fees.fee, fees.receiver, seller.id, same_creator)


async def _accounts(
    session: AsyncSession, buyer: uuid.UUID, seller: uuid.UUID
) -> tuple[Owned, Owned]:
    """Both parties' accounts, in one read."""
    found = {a.owner_id: a for a in await accounts_of(session, "agent", [buyer, seller])}
    for agent in (buyer, seller):
        if str(agent) not in found:
            raise AccountNotFound(f"No agent account for {agent}")
    return found[str(buyer)], found[str(seller)]


async def _completed(session: AsyncSession, tx: Transaction, sale: _Sale) -> None:
    """Everything a completed sale changes but money, which its caller moves last: a movement
    locks the treasury and burn accounts every purchase moves, so they are held only from it
    to the commit (on PostgreSQL each statement after it would be a round trip under them).
    Reputation and trade counters follow from its closing event (the tally, ADR 0038)."""
    tx.status, tx.fee_units, tx.completed_at = S.COMPLETED, sale.fee, utcnow()
    await signals.convert(session, tx.buyer_id, tx.completed_at)
    announce(session, tx, EventType.TRANSACTION_COMPLETED)
    if tx.express:
        announce(session, tx, EventType.EXPRESS_PURCHASE)


def _royalty(proceeds: int, settings: Settings) -> int:
    """The owning creator's share of the seller's proceeds (rounded down: never more than them)."""
    return min(proceeds, int(proceeds * settings.creator_royalty_pct))


async def _quality_bonus(
    session: AsyncSession, tx: Transaction, sale: _Sale, settings: Settings
) -> None:
    """The quality bonus the sale earns, from the treasury: not when buyer and seller belong to
    one creator (they must not mint themselves a bonus), nor below the quality threshold."""
    if sale.same_creator:
        return
    bonus = ledger.quality_bonus(
        sale.proceeds,
        sale.fee,
        settings.token_quality_bonus_pct,
        settings.token_quality_bonus_max_fee_share,
    )
    if bonus <= 0:
        return
    if await listings.quality_of(session, tx.listing_id) < settings.token_quality_threshold:
        return
    # When the treasury cannot cover the whole bonus, none is paid.
    with contextlib.suppress(ledger.InsufficientCredits):
        await ledger.record(
            session,
            f"purchase:{tx.id}:bonus",
            ledger.Movement(
                "quality_bonus",
                [ledger.Leg(ledger.System.TREASURY.id, sale.seller_account, bonus)],
                bonus,
                reference_type="transaction",
                reference_id=str(tx.id),
            ),
        )


async def release(
    session: AsyncSession,
    tx_id: uuid.UUID,
    status: PurchaseStatus,
    reason: str,
) -> Transaction:
    """Return held credits to the buyer (if any were held) and close as `status`."""
    tx = await get(session, tx_id, lock=True)
    if S(tx.status).final:
        return tx
    if tx.paid_at is not None:
        await ledger.void(session, hold_key(tx), f"purchase:{tx.id}:release")
    tx.status, tx.error_message, tx.completed_at = status, reason[:500], utcnow()
    announce(session, tx, EventType(f"transaction_{status}"))
    return tx
