"""Purchases: each step is one unit of work, called by the PurchaseWorkflow's activities.

Credits move only through idempotent ledger movements keyed by the transaction
(`purchase:{tx}:hold`, `:settle`, `:bonus`, `:release`), so a retried step changes nothing.
"""

import functools
import uuid
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import ids
from core.clock import utcnow
from core.db import append, inserting, paginate
from core.errors import InvalidState, NotFound, PaymentRequired, RuleViolation
from core.queries import fetch
from domain import events, ledger, listings, proofs
from domain.content.store import content_key
from domain.demand import signals
from domain.events import EventType
from domain.ledger.accounts import of as account_of
from models.listings import ListingStatus
from models.purchases import Transaction, VerificationRecord
from workflows.contracts.purchase import (
    PaymentMethod,
    PurchaseStatus,
    VerificationStatus,
)

S = PurchaseStatus


class TransactionNotFound(NotFound):
    code = "transaction_not_found"


class OwnListing(RuleViolation):
    code = "own_listing"


class ListingInactive(InvalidState):
    code = "listing_inactive"


class PaymentReplayed(PaymentRequired):
    code = "payment_replayed"


def announce(session: AsyncSession, tx: Transaction, event_type: EventType) -> None:
    events.emit(
        session,
        event_type,
        {
            "transaction_id": str(tx.id),
            "listing_id": str(tx.listing_id),
            "status": tx.status,
            "amount_units": tx.amount_units,
        },
        audience=[tx.buyer_id, tx.seller_id],
    )


_transactions = Transaction.metadata.tables["transactions"]
# What opening a purchase sets; every other column starts empty.
_OPENED = (
    "id",
    "listing_id",
    "buyer_id",
    "seller_id",
    "amount_units",
    "fee_units",
    "status",
    "payment_method",
    "content_hash",
    "express",
    "verification_status",
    "initiated_at",
    "workflow_id",
)


async def open_purchase(
    session: AsyncSession, tx_id: uuid.UUID, buyer_id: uuid.UUID, listing_id: str, express: bool
) -> tuple[Transaction, bool]:
    """The transaction for this id (a retried request finds the first, and says so: True), or
    a new one (False)."""
    offer = await listings.offer_of(session, listing_id)
    refusal = _refusal(offer, buyer_id)
    if refusal is None:
        tx = Transaction(
            id=tx_id,
            listing_id=offer.id,
            buyer_id=buyer_id,
            seller_id=offer.seller_id,
            amount_units=offer.price_units,
            fee_units=0,
            status=S.PAYMENT_PENDING,
            payment_method=PaymentMethod.TOKEN,
            content_hash=offer.content_hash,
            express=express,
            verification_status=VerificationStatus.PENDING,
            initiated_at=utcnow(),
            workflow_id=ids.purchase_workflow(tx_id),
        )
        opened = _opening(session.get_bind().dialect.name)
        if await fetch(session, opened, {c: getattr(tx, c) for c in _OPENED}):
            _opened(session, tx, offer, express)
            return tx, False
    # Taken already (a retry, or the same Idempotency-Key concurrently): that one stands, even if
    # the listing could not be bought any more.
    existing = await session.get(Transaction, tx_id)
    if existing is not None:
        return _same_purchase(existing, listing_id), True
    assert refusal is not None
    raise refusal


def _refusal(offer: listings.Offer, buyer_id: uuid.UUID) -> Exception | None:
    if offer.seller_id == buyer_id:
        return OwnListing("Agents cannot buy their own listings")
    if offer.status != ListingStatus.ACTIVE:
        return ListingInactive(f"Listing {offer.id} is {offer.status}")
    return None


def _opened(session: AsyncSession, tx: Transaction, offer: listings.Offer, express: bool) -> None:
    announce(session, tx, EventType.TRANSACTION_INITIATED)
    if express:  # an express buy is a search that found exactly this listing
        signals.record(
            session,
            query=offer.title,
            category=offer.category,
            requester=signals.agent_requester(tx.buyer_id),
            matched_count=1,
            max_price_units=offer.price_units,
            source="express",
        )


@functools.cache
def _opening(dialect: str) -> Any:
    """INSERT of a new purchase's row, or nothing if its id is taken (built once per database)."""
    return (
        inserting(dialect, _transactions)
        .values({c: bindparam(c, type_=_transactions.c[c].type) for c in _OPENED})
        .on_conflict_do_nothing(index_elements=[_transactions.c.id])
        .returning(_transactions.c.id)
    )


def _same_purchase(existing: Transaction, listing_id: str) -> Transaction:
    if str(existing.listing_id) != str(listing_id):
        raise RuleViolation(
            "This Idempotency-Key bought another listing", code="idempotency_key_reused"
        )
    return existing


async def get(session: AsyncSession, tx_id: uuid.UUID | str, *, lock: bool = False) -> Transaction:
    """The transaction; `lock` holds its row until the commit (one step at a time)."""
    key = tx_id if isinstance(tx_id, uuid.UUID) else ids.parse_id(tx_id)
    tx = (
        await session.get(Transaction, key, with_for_update=lock, populate_existing=lock)
        if key
        else None
    )
    if tx is None:
        raise TransactionNotFound(f"Transaction {tx_id} not found")
    return tx


async def for_party(session: AsyncSession, tx_id: str, caller: uuid.UUID) -> Transaction:
    """Only the buyer and the seller see a transaction; to anyone else it does not exist."""
    tx = await get(session, tx_id)
    if caller not in (tx.buyer_id, tx.seller_id):
        raise TransactionNotFound(f"Transaction {tx_id} not found")
    return tx


async def page(
    session: AsyncSession,
    caller: uuid.UUID,
    *,
    status: str | None,
    role: str | None,
    page: int,
    page_size: int,
) -> tuple[int, list[Transaction]]:
    mine = {
        "buyer": Transaction.buyer_id == caller,
        "seller": Transaction.seller_id == caller,
    }.get(role or "", or_(Transaction.buyer_id == caller, Transaction.seller_id == caller))
    query = select(Transaction).where(mine)
    if status:
        query = query.where(Transaction.status == status)
    order = (Transaction.initiated_at.desc(), Transaction.id)
    return await paginate(session, query, *order, page=page, page_size=page_size)


def hold_key(tx: Transaction) -> str:
    return f"purchase:{tx.id}:hold"


async def pay(session: AsyncSession, tx_id: uuid.UUID) -> Transaction:
    """Hold the price on the buyer's credits (402 when not available)."""
    tx = await get(session, tx_id, lock=True)
    if tx.status != S.PAYMENT_PENDING:
        return tx
    buyer = await account_of(session, "agent", tx.buyer_id)
    await ledger.hold(session, hold_key(tx), buyer.id, tx.amount_units, ("transaction", str(tx.id)))
    tx.status, tx.paid_at = S.PAYMENT_CONFIRMED, utcnow()
    announce(session, tx, EventType.PAYMENT_CONFIRMED)
    return tx


async def pay_x402(
    session: AsyncSession, tx_id: uuid.UUID, payment: str, settlement: str
) -> Transaction:
    """Credit the settled x402 payment to the buyer and hold it, as one movement per payment."""
    tx = await get(session, tx_id, lock=True)
    if tx.status != S.PAYMENT_PENDING:
        return tx
    buyer = await account_of(session, "agent", tx.buyer_id)
    issued = ledger.Movement(
        "x402_payment",
        [ledger.Leg(ledger.System.ISSUANCE.id, buyer.id, tx.amount_units)],
        tx.amount_units,
        reference_type="transaction",
        reference_id=str(tx.id),
        details={"settlement": settlement},
    )
    try:
        await ledger.record(session, payment_key(payment), issued)
    except ledger.KeyReused as exc:
        raise PaymentReplayed("This payment already paid another purchase") from exc
    await ledger.hold(session, hold_key(tx), buyer.id, tx.amount_units, ("transaction", str(tx.id)))
    tx.status, tx.paid_at = S.PAYMENT_CONFIRMED, utcnow()
    tx.payment_method, tx.payment_tx_hash = PaymentMethod.X402, settlement[:200]
    announce(session, tx, EventType.PAYMENT_CONFIRMED)
    return tx


def payment_key(payment: str) -> str:
    return f"x402:{payment}"


async def refuse_replayed_payment(session: AsyncSession, tx_id: uuid.UUID, payment: str) -> None:
    """A signed payment pays one purchase only (checked before the facilitator is asked)."""
    paid = await ledger.find(session, payment_key(payment))
    if paid is not None and paid.reference_id != str(tx_id):
        raise PaymentReplayed("This payment already paid another purchase")


async def deliver(session: AsyncSession, tx_id: uuid.UUID, delivered_hash: str) -> Transaction:
    tx = await get(session, tx_id)
    if tx.status == S.PAYMENT_CONFIRMED:
        tx.status, tx.delivered_hash, tx.delivered_at = S.DELIVERED, delivered_hash, utcnow()
        announce(session, tx, EventType.CONTENT_DELIVERED)
    return tx


async def record_verification(
    session: AsyncSession, tx_id: uuid.UUID, actual_hash: str, merkle_matched: bool
) -> bool:
    """The verification step of the purchase: its verdict becomes the transaction's (once: a
    retried step answers the verdict already recorded)."""
    tx = await get(session, tx_id)
    if tx.verification_status != VerificationStatus.PENDING:
        return tx.verification_status == VerificationStatus.VERIFIED
    record = verification_of(session, tx, actual_hash, merkle_matched)
    matched = VerificationStatus.VERIFIED if record.matched else VerificationStatus.FAILED
    tx.verification_status = matched
    tx.verified_at = utcnow()
    return record.matched


async def check_content(
    session: AsyncSession, tx_id: str, caller: uuid.UUID, data: bytes
) -> VerificationRecord:
    """A party checks bytes against what the listing committed to; the purchase is unchanged."""
    tx = await for_party(session, tx_id, caller)
    committed = await listings.committed(session, tx.listing_id)
    return verification_of(session, tx, content_key(data), proofs.verify_delivery(data, committed))


def verification_of(
    session: AsyncSession, tx: Transaction, actual_hash: str, merkle_matched: bool
) -> VerificationRecord:
    record = VerificationRecord(
        transaction_id=tx.id,
        expected_hash=tx.content_hash,
        actual_hash=actual_hash,
        matched=actual_hash == tx.content_hash and merkle_matched,
        merkle_matched=merkle_matched,
    )
    append(session, record)
    return record


from domain.purchases.settlement import buy_at_once, release, settle  # noqa: E402

__all__ = ["buy_at_once", "release", "settle"]
