"""The purchase flow as the API drives it: open, pay, deliver, verify, and express.

`express_buy` is the one express purchase: `POST /express/{listing_id}`, auto-match's auto-buy
and the MCP tool all call it.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.flows import Launch, Opened, open_flow, outcome, update
from api.state import AppState
from core.db import read_only
from core.errors import AppError, Forbidden, InvalidState, Unavailable
from domain import listings, purchases
from domain.purchases import x402
from domain.wallet import accounts
from workflows.contracts import Update
from workflows.contracts import purchase as contract
from workflows.contracts.purchase import (
    Delivery,
    Payment,
    PurchaseState,
    PurchaseStatus,
    PurchaseTerms,
)

A = TypeVar("A")
ANSWER_SECONDS = 10.0  # a workflow task's own timeout: by then it runs elsewhere


def purchase_id(buyer: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    """From the buyer's Idempotency-Key when given, so a retried request finds the same one."""
    return uuid.uuid5(buyer, f"purchase:{idempotency_key}") if idempotency_key else uuid.uuid4()


async def open_purchase(
    app: AppState,
    buyer: uuid.UUID,
    listing_id: str,
    tx_id: uuid.UUID,
    *,
    express: bool = False,
    payment: Payment | None = None,
) -> Opened[PurchaseState]:
    window = app.settings.purchase_delivery_timeout

    async def open_row(session: AsyncSession) -> tuple[PurchaseState, bool]:
        tx, replayed = await purchases.open_purchase(session, tx_id, buyer, listing_id, express)
        return PurchaseState.model_validate(tx), replayed

    def launch(purchase: PurchaseState) -> Launch[PurchaseTerms]:
        operators_see = TypedSearchAttributes(
            [
                SearchAttributePair(
                    contract.AGENT_ID, [str(purchase.buyer_id), str(purchase.seller_id)]
                ),
                SearchAttributePair(contract.LISTING_ID, str(purchase.listing_id)),
                SearchAttributePair(contract.TRANSACTION_STATUS, purchase.status),
            ]
        )
        kind = "Express purchase" if express else "Purchase"
        return Launch(
            contract.PURCHASE,
            PurchaseTerms(purchase=purchase, payment=payment, window_seconds=window),
            purchase.workflow_id,
            f"{kind} of listing {purchase.listing_id}",
            operators_see,
            eager=express,
        )

    async def abandon(session: AsyncSession, purchase: PurchaseState) -> None:
        failed = PurchaseStatus.FAILED
        reason = "the purchase could not start"
        await purchases.release(session, purchase.transaction_id, failed, reason)

    return await open_flow(app, open_row, launch, abandon)


async def for_party(
    app: AppState, tx_id: str, caller: uuid.UUID, role: str | None = None
) -> PurchaseState:
    """The purchase as one of its parties sees it; `role` when only that party takes the step."""
    async with read_only(app.sessions) as session:
        tx = await purchases.for_party(session, tx_id, caller)
    if (role == "buyer" and tx.buyer_id != caller) or (role == "seller" and tx.seller_id != caller):
        raise Forbidden(f"Only the {role} takes this step", code="wrong_party")
    return PurchaseState.model_validate(tx)


def x402_payment(
    app: AppState, headers: Mapping[str, str], amount_units: int, resource: str
) -> Payment:
    """The x402 payment in the request's headers, or a 402 saying what to pay."""
    header = next(filter(None, map(headers.get, x402.HEADERS)), None)
    if not header:
        raise x402.payment_required(app.settings, amount_units, resource)
    return Payment(header=header, fingerprint=x402.fingerprint(header))


async def confirm_payment(
    app: AppState, purchase: PurchaseState, payment: Payment | None
) -> PurchaseState:
    return await _update(app, purchase, contract.CONFIRM_PAYMENT, payment)


async def deliver(app: AppState, purchase: PurchaseState, content: bytes) -> PurchaseState:
    """Store the seller's bytes and record the delivery; nothing is stored out of turn."""
    if purchase.status != PurchaseStatus.PAYMENT_CONFIRMED:
        raise _not_now(purchase.status)
    delivered = await app.delivery.put(content)
    return await _update(app, purchase, contract.DELIVER, Delivery(delivered_hash=delivered))


async def verify(app: AppState, purchase: PurchaseState) -> PurchaseState:
    return await _update(app, purchase, contract.VERIFY, None)


async def _update(
    app: AppState, purchase: PurchaseState, message: Update[A, PurchaseState], arg: A
) -> PurchaseState:
    return await update(app, purchase.workflow_id, message, arg, closed=_closed(app, purchase))


def _closed(app: AppState, purchase: PurchaseState) -> Callable[[], Awaitable[PurchaseState]]:
    async def answer() -> PurchaseState:
        async with read_only(app.sessions) as session:
            tx = await purchases.get(session, purchase.transaction_id)
        raise _not_now(tx.status)

    return answer


def _not_now(status: str) -> InvalidState:
    return InvalidState(f"This purchase is {status}")


@dataclass(frozen=True)
class ExpressReceipt:
    purchase: PurchaseState
    content: bytes
    cache_hit: bool
    buyer_available_units: int
    replayed: bool


async def express_buy(
    app: AppState,
    buyer: uuid.UUID,
    listing_id: str,
    idempotency_key: str | None,
    payment: Payment | None = None,
) -> ExpressReceipt:
    """Hold, deliver from the content store, verify and settle in one call; the same key again
    answers the same purchase without charging twice. When its step runs in this process (an
    eager start), the answer is that step's result, not the workflow's close (ADR 0044)."""
    tx_id = purchase_id(buyer, idempotency_key)
    with app.express_answers.awaiting(tx_id) as answered:
        opened = await open_purchase(app, buyer, listing_id, tx_id, express=True, payment=payment)
        closed = await _answer(app, opened, answered)
    if closed.status != PurchaseStatus.COMPLETED:
        raise _refusal(closed)
    data, tier = await app.delivery.get(closed.content_hash)
    available = closed.buyer_available_units
    if available is None:  # paid with x402: its steps do not report the balance
        async with read_only(app.sessions) as session:
            available = (await accounts.balance(session, buyer)).available
    return ExpressReceipt(closed, data, tier == "hot", available, opened.replayed)


async def _answer(
    app: AppState, opened: Opened[PurchaseState], answered: asyncio.Future[PurchaseState | None]
) -> PurchaseState:
    """The step's result when it ran here; otherwise (a refusal, another process, a replay) the
    workflow's. A step that never reports here (its task lost with a worker's slot) is waited for
    through the workflow after `ANSWER_SECONDS`."""
    if opened.here:
        with contextlib.suppress(TimeoutError):
            given = await asyncio.wait_for(answered, ANSWER_SECONDS)
            if given is not None:
                return given
    return await outcome(app, opened.state.workflow_id, contract.PURCHASE)


def _refusal(closed: PurchaseState) -> AppError:
    """Why an express purchase did not complete, as the error its failed step raised."""
    kind = AppError.by_code.get(closed.error_code or "")
    if kind is not None:
        return kind(closed.error_message)
    if closed.status == PurchaseStatus.FAILED:
        return Unavailable("The purchase could not be completed; nothing was charged")
    return InvalidState(f"This purchase is {closed.status}: {closed.error_message}")


async def listing_price(app: AppState, listing_id: str) -> int:
    async with read_only(app.sessions) as session:
        return (await listings.get(session, listing_id)).price_units
