"""Purchases: each is a PurchaseWorkflow, driven through `api/flows/purchases.py`.

No database transaction is held while a workflow works: reads and the opening write use
short units of work of their own.
"""

import base64
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import AgentId, State
from api.flows import purchases as flow
from api.routes import API_PREFIX
from api.schemas.common import PageNumber, PageSize
from api.schemas.purchases import (
    ContentCheck,
    ContentEncoding,
    ContentVerdict,
    DeliverRequest,
    ExpressRequest,
    ExpressResult,
    Initiate,
    Initiated,
    PaymentDetails,
    TransactionList,
    TransactionResponse,
)
from api.state import AppState
from core.db import read_only, unit_of_work
from core.errors import InvalidState, RuleViolation
from domain import listings, purchases
from domain.purchases import x402
from workflows.contracts.purchase import PaymentMethod, PurchaseState, PurchaseStatus

router = APIRouter(prefix=API_PREFIX, tags=["purchases"])


def _view(purchase: PurchaseState) -> TransactionResponse:
    fields = purchase.model_dump()
    return TransactionResponse(
        **fields,
        id=purchase.transaction_id,
        amount_usdc=purchase.amount_units,
        amount_ard=purchase.amount_units,
        fee_ard=purchase.fee_units,
    )


def _replayed(replayed: bool) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if replayed else {}


def _payment_details(state: AppState, amount_units: int) -> PaymentDetails:
    settings = state.settings
    if not x402.enabled(settings):
        pay_to, asset = "agentchains:escrow", "ARD"
    else:
        pay_to, asset = settings.x402_pay_to, settings.x402_asset
    return PaymentDetails(
        pay_to_address=pay_to,
        network=settings.x402_network,
        asset=asset,
        amount_usdc=amount_units,
        facilitator_url=settings.x402_facilitator_url,
        simulated=not x402.enabled(settings),
    )


@router.post("/transactions/initiate", status_code=201, response_model=Initiated)
async def initiate(body: Initiate, request: Request, buyer: AgentId, state: State) -> Response:
    key = request.headers.get("Idempotency-Key")
    opened = await flow.open_purchase(state, buyer, body.listing_id, flow.purchase_id(buyer, key))
    tx = opened.state
    answer = Initiated(
        transaction_id=tx.transaction_id,
        status=tx.status,
        amount_usdc=tx.amount_units,
        amount_ard=tx.amount_units,
        content_hash=tx.content_hash,
        payment_details=_payment_details(state, tx.amount_units),
    )
    return Response(
        answer.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={
            "Location": f"/api/v1/transactions/{tx.transaction_id}",
            **_replayed(opened.replayed),
        },
    )


@router.post("/transactions/{tx_id}/confirm-payment", response_model=TransactionResponse)
async def confirm_payment(
    tx_id: str, request: Request, buyer: AgentId, state: State
) -> TransactionResponse:
    """Token mode: hold the price on the buyer's credits (402 when not available).
    x402 mode: the `X-PAYMENT` header, verified and settled through the facilitator."""
    tx = await flow.for_party(state, tx_id, buyer, "buyer")
    payment = None
    if x402.enabled(state.settings):
        payment = flow.x402_payment(state, request.headers, tx.amount_units, str(request.url))
    return _view(await flow.confirm_payment(state, tx, payment))


@router.post("/transactions/{tx_id}/deliver", response_model=TransactionResponse)
async def deliver(
    tx_id: str, body: DeliverRequest, seller: AgentId, state: State
) -> TransactionResponse:
    tx = await flow.for_party(state, tx_id, seller, "seller")
    return _view(await flow.deliver(state, tx, body.content.encode()))


@router.post("/transactions/{tx_id}/verify", response_model=TransactionResponse)
async def verify(tx_id: str, buyer: AgentId, state: State) -> TransactionResponse:
    """Completed when the delivery matches the listing, disputed (and refunded) when not."""
    tx = await flow.for_party(state, tx_id, buyer, "buyer")
    return _view(await flow.verify(state, tx))


@router.post("/verify", response_model=ContentVerdict)
async def check_content(body: ContentCheck, caller: AgentId, state: State) -> ContentVerdict:
    """A party checks content against the listing's commitments; a verification record is kept."""
    async with unit_of_work(state.sessions) as session:
        record = await purchases.check_content(
            session, body.transaction_id, caller, body.content.encode()
        )
        return ContentVerdict(
            verified=record.matched,
            expected_hash=record.expected_hash,
            actual_hash=record.actual_hash,
        )


@router.get("/transactions/{tx_id}", response_model=TransactionResponse)
async def get(tx_id: str, caller: AgentId, state: State) -> TransactionResponse:
    return _view(await flow.for_party(state, tx_id, caller))


@router.get("/transactions/{tx_id}/content")
async def content(tx_id: str, buyer: AgentId, state: State) -> Response:
    tx = await flow.for_party(state, tx_id, buyer, "buyer")
    if tx.delivered_hash is None:
        raise InvalidState("Nothing has been delivered yet")
    async with read_only(state.sessions) as session:
        listing = await listings.get(session, tx.listing_id)
    data, _ = await state.delivery.get(tx.delivered_hash)
    return Response(data, media_type=listing.content_type)


@router.get("/transactions", response_model=TransactionList)
async def mine(
    caller: AgentId,
    state: State,
    status: PurchaseStatus | None = None,
    role: Annotated[str | None, Query(pattern="^(buyer|seller)$")] = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> TransactionList:
    async with read_only(state.sessions) as session:
        total, rows = await purchases.page(
            session, caller, status=status, role=role, page=page, page_size=page_size
        )
        views = [_view(PurchaseState.model_validate(tx)) for tx in rows]
    return TransactionList(total=total, page=page, page_size=page_size, transactions=views)


@router.post("/express/{listing_id}", response_model=ExpressResult)
async def express(
    listing_id: str,
    request: Request,
    buyer: AgentId,
    state: State,
    body: ExpressRequest | None = None,
) -> Response:
    """Hold, deliver from the content store, verify and settle in one call."""
    started = time.perf_counter()
    payment = None
    if body is not None and body.payment_method == PaymentMethod.X402:
        if not x402.enabled(state.settings):
            raise RuleViolation("x402 payments are not enabled here", code="x402_disabled")
        price = await flow.listing_price(state, listing_id)
        payment = flow.x402_payment(state, request.headers, price, str(request.url))
    key = request.headers.get("Idempotency-Key")
    receipt = await flow.express_buy(state, buyer, listing_id, key, payment)
    elapsed = int((time.perf_counter() - started) * 1000)
    answer = express_result(receipt, elapsed)
    return Response(
        answer.model_dump_json(),
        media_type="application/json",
        headers={"X-Delivery-Ms": str(elapsed), **_replayed(receipt.replayed)},
    )


def express_result(receipt: flow.ExpressReceipt, elapsed_ms: int) -> ExpressResult:
    """An express purchase as its buyer is answered (here, by auto-match's auto-buy and by the
    MCP tool)."""
    tx = receipt.purchase
    text, encoding = _text(receipt.content)
    return ExpressResult(
        transaction_id=tx.transaction_id,
        listing_id=tx.listing_id,
        content=text,
        content_encoding=encoding,
        content_hash=tx.content_hash,
        price_usdc=tx.amount_units,
        amount_ard=tx.amount_units,
        fee_ard=tx.fee_units,
        buyer_balance=receipt.buyer_available_units,
        seller_id=tx.seller_id,
        delivery_ms=elapsed_ms,
        cache_hit=receipt.cache_hit,
    )


def _text(data: bytes) -> tuple[str, ContentEncoding]:
    try:
        return data.decode(), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), "base64"
