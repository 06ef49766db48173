"""Purchases: each is a PurchaseWorkflow; the route starts it or sends it an update.

No database transaction is held while a workflow works: reads and the opening write use
short units of work of their own.
"""

import base64
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api import temporal
from api.deps import AgentId, State
from api.schemas.common import PageNumber, PageSize
from api.schemas.purchases import (
    ContentCheck,
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
from core.db import unit_of_work
from core.errors import Forbidden, PaymentRequired, RuleViolation, Unavailable
from core.temporal import AGENT_ID, LISTING_ID, TRANSACTION_STATUS
from domain import listings, purchases
from domain.purchases import x402
from domain.wallet import accounts
from workflows.messages import (
    CONFIRM_PAYMENT,
    DELIVER,
    PURCHASE_WORKFLOW,
    VERIFY,
    Delivery,
    Payment,
    PurchaseState,
    PurchaseTerms,
)

router = APIRouter(tags=["purchases"])


def _view(tx: Any) -> TransactionResponse:
    return TransactionResponse(
        **{k: getattr(tx, k) for k in TransactionResponse.model_fields if hasattr(tx, k)},
        amount_usdc=tx.amount_units,
        amount_ard=tx.amount_units,
        fee_ard=tx.fee_units,
    )


def _transaction_id(buyer: uuid.UUID, request: Request) -> uuid.UUID:
    key = request.headers.get("Idempotency-Key")
    return uuid.uuid5(buyer, f"purchase:{key}") if key else uuid.uuid4()


def _payment(state: AppState, request: Request, amount_units: int) -> Payment:
    """The x402 payment in the request's header, or a 402 saying what to pay."""
    header = next(filter(None, map(request.headers.get, x402.HEADERS)), None)
    if not header:
        raise x402.payment_required(state.settings, amount_units, str(request.url))
    return Payment(header=header, fingerprint=x402.fingerprint(header))


async def _open(
    state: AppState,
    buyer: uuid.UUID,
    listing_id: str,
    tx_id: uuid.UUID,
    express: bool,
    payment: Payment | None = None,
) -> tuple[Any, bool]:
    """Commit the transaction row, then start its workflow (a retry finds both again).
    Also says whether this request found an existing purchase (an Idempotency-Key replay)."""
    async with unit_of_work(state.sessions) as session:
        tx, replayed = await purchases.open_purchase(session, tx_id, buyer, listing_id, express)
    terms = PurchaseTerms(
        transaction_id=tx.id,
        express=express,
        payment=payment,
        window_seconds=state.settings.purchase_delivery_timeout,
    )
    operators_see = TypedSearchAttributes(
        [
            SearchAttributePair(AGENT_ID, [str(tx.buyer_id), str(tx.seller_id)]),
            SearchAttributePair(LISTING_ID, str(tx.listing_id)),
            SearchAttributePair(TRANSACTION_STATUS, tx.status),
        ]
    )
    try:
        await temporal.start(
            state.temporal,
            PURCHASE_WORKFLOW,
            terms,
            id=tx.workflow_id,
            task_queue=state.settings.temporal_task_queue,
            search_attributes=operators_see,
            summary=f"{'Express purchase' if express else 'Purchase'} of listing {tx.listing_id}",
        )
    except Unavailable:
        async with unit_of_work(state.sessions) as session:
            await purchases.release(
                session,
                tx.id,
                "failed",
                "the purchase could not start",
                state.settings.purchase_delivery_timeout,
            )
        raise
    return tx, replayed


def _replayed(replayed: bool) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if replayed else {}


async def _party(state: AppState, tx_id: str, caller: uuid.UUID, role: str | None = None) -> Any:
    async with unit_of_work(state.sessions) as session:
        tx = await purchases.for_party(session, tx_id, caller)
    if (role == "buyer" and tx.buyer_id != caller) or (role == "seller" and tx.seller_id != caller):
        raise Forbidden(f"Only the {role} takes this step", code="wrong_party")
    return tx


async def _fresh(state: AppState, tx_id: uuid.UUID) -> TransactionResponse:
    async with unit_of_work(state.sessions) as session:
        return _view(await purchases.get(session, tx_id))


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
    tx, replayed = await _open(
        state, buyer, body.listing_id, _transaction_id(buyer, request), False
    )
    answer = Initiated(
        transaction_id=tx.id,
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
        headers={"Location": f"/api/v1/transactions/{tx.id}", **_replayed(replayed)},
    )


@router.post("/transactions/{tx_id}/confirm-payment", response_model=TransactionResponse)
async def confirm_payment(
    tx_id: str, request: Request, buyer: AgentId, state: State
) -> TransactionResponse:
    """Token mode: hold the price on the buyer's credits (402 when not available).
    x402 mode: the `X-PAYMENT` header, verified and settled through the facilitator."""
    tx = await _party(state, tx_id, buyer, "buyer")
    payment = _payment(state, request, tx.amount_units) if x402.enabled(state.settings) else None
    await temporal.update(state.temporal, tx.workflow_id, CONFIRM_PAYMENT, payment, PurchaseState)
    return await _fresh(state, tx.id)


@router.post("/transactions/{tx_id}/deliver", response_model=TransactionResponse)
async def deliver(
    tx_id: str, body: DeliverRequest, seller: AgentId, state: State
) -> TransactionResponse:
    tx = await _party(state, tx_id, seller, "seller")
    delivered = await state.delivery.put(body.content.encode())
    await temporal.update(
        state.temporal, tx.workflow_id, DELIVER, Delivery(delivered_hash=delivered), PurchaseState
    )
    return await _fresh(state, tx.id)


@router.post("/transactions/{tx_id}/verify", response_model=TransactionResponse)
async def verify(tx_id: str, buyer: AgentId, state: State) -> TransactionResponse:
    """Completed when the delivery matches the listing, disputed (and refunded) when not."""
    tx = await _party(state, tx_id, buyer, "buyer")
    await temporal.update(state.temporal, tx.workflow_id, VERIFY, None, PurchaseState)
    return await _fresh(state, tx.id)


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
    return _view(await _party(state, tx_id, caller))


@router.get("/transactions/{tx_id}/content")
async def content(tx_id: str, buyer: AgentId, state: State) -> Response:
    tx = await _party(state, tx_id, buyer, "buyer")
    if tx.delivered_hash is None:
        raise purchases.InvalidState("Nothing has been delivered yet")
    async with unit_of_work(state.sessions) as session:
        listing = await listings.get(session, tx.listing_id)
    data, _ = await state.delivery.get(tx.delivered_hash)
    return Response(data, media_type=listing.content_type)


@router.get("/transactions", response_model=TransactionList)
async def mine(
    caller: AgentId,
    state: State,
    status: Annotated[str | None, Query(max_length=20)] = None,
    role: Annotated[str | None, Query(pattern="^(buyer|seller)$")] = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> TransactionList:
    async with unit_of_work(state.sessions) as session:
        total, rows = await purchases.page(
            session, caller, status=status, role=role, page=page, page_size=page_size
        )
        views = [_view(tx) for tx in rows]
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
    if body is not None and body.payment_method == "x402":
        if not x402.enabled(state.settings):
            raise RuleViolation("x402 payments are not enabled here", code="x402_disabled")
        async with unit_of_work(state.sessions) as session:
            price = (await listings.get(session, listing_id)).price_units
        payment = _payment(state, request, price)
    tx_id = _transaction_id(buyer, request)
    tx, replayed = await _open(state, buyer, listing_id, tx_id, True, payment)
    handle = state.temporal.get_workflow_handle(tx.workflow_id, result_type=PurchaseState)
    result = await handle.result()
    if result.status != "completed":
        if result.error_code and result.error_code.startswith(("insufficient_", "payment_")):
            raise PaymentRequired(result.error_message or "Not paid", code=result.error_code)
        if result.error_code == Unavailable.__name__:
            raise Unavailable(result.error_message)
        raise purchases.InvalidState(result.error_message or f"Purchase {result.status}")
    data, tier = await state.delivery.get(tx.content_hash)
    async with unit_of_work(state.sessions) as session:
        wallet = await accounts.balance(session, buyer)
        settled = await purchases.get(session, tx.id)
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode(), "base64"
    elapsed = int((time.perf_counter() - started) * 1000)
    answer = ExpressResult(
        transaction_id=tx.id,
        listing_id=tx.listing_id,
        content=text,
        content_encoding=encoding,
        content_hash=tx.content_hash,
        price_usdc=tx.amount_units,
        amount_ard=tx.amount_units,
        fee_ard=settled.fee_units,
        buyer_balance=wallet.available,
        seller_id=tx.seller_id,
        delivery_ms=elapsed,
        cache_hit=tier == "hot",
    )
    return Response(
        answer.model_dump_json(),
        media_type="application/json",
        headers={"X-Delivery-Ms": str(elapsed), **_replayed(replayed)},
    )
