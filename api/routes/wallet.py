"""The ARD wallet: balances, history, transfers, deposits, supply, tiers, currencies, audit."""

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response

from api import temporal
from api.deps import (
    AgentId,
    DepositConfirmer,
    IdempotencyDep,
    OperatorId,
    Session,
    State,
)
from api.schemas.common import PageNumber, PageSize
from api.schemas.wallet import (
    Currencies,
    CurrencyInfo,
    DepositRequest,
    DepositResponse,
    HistoryEntry,
    Supply,
    TierInfo,
    Tiers,
    TransferRequest,
    TransferResponse,
    WalletBalance,
    WalletHistory,
)
from core import ids
from core.clock import utcnow
from core.db import unit_of_work
from core.errors import InvalidState, Unavailable
from core.money import units_to_usdc
from domain import ledger
from domain.wallet import accounts, deposits, transfers
from workflows.messages import (
    CONFIRM_DEPOSIT,
    DEPOSIT_WORKFLOW,
    Confirmation,
    DepositState,
    DepositTerms,
)

router = APIRouter(prefix="/wallet", tags=["wallet"])


@router.get("/balance", response_model=WalletBalance)
async def balance(agent: AgentId, session: Session, state: State) -> WalletBalance:
    wallet = await accounts.balance(session, agent)
    a = wallet.account
    return WalletBalance(
        balance=wallet.balance,
        held=wallet.held,
        available=wallet.available,
        tier=a.tier,
        total_earned=a.total_earned,
        total_spent=a.total_spent,
        total_deposited=a.total_deposited,
        total_fees_paid=a.total_fees_paid,
        usd_equivalent=units_to_usdc(wallet.balance),
        token_name=state.settings.token_name,
    )


@router.get("/history", response_model=WalletHistory, name="history")
async def history(
    agent: AgentId, session: Session, page: PageNumber = 1, page_size: PageSize = 20
) -> WalletHistory:
    total, lines = await accounts.history(session, agent, page, page_size)
    return WalletHistory(
        total=total,
        page=page,
        page_size=page_size,
        entries=[HistoryEntry.model_validate(line.__dict__) for line in lines],
    )


@router.post("/transfer", status_code=201, response_model=TransferResponse)
async def transfer(
    body: TransferRequest,
    request: Request,
    agent: AgentId,
    session: Session,
    state: State,
    idem: IdempotencyDep,
) -> Response:
    """Send credits to another agent; the sender pays the fee (tier-discounted)."""
    if isinstance(idem, Response):
        return idem
    movement = await transfers.transfer(
        session,
        state.settings,
        sender_id=agent,
        receiver_id=body.to_agent_id,
        amount=body.amount,
        memo=body.memo,
        key=ids.transfer_key(agent, request.headers.get("Idempotency-Key")),
    )
    answer = TransferResponse.model_validate(movement, from_attributes=True)
    return idem.respond(201, answer, {"Location": request.url_for("history").path})


def _deposit_response(deposit: DepositState) -> DepositResponse:
    return DepositResponse(
        id=deposit.deposit_id,
        agent_id=deposit.agent_id,
        status=deposit.status,
        amount_fiat=f"{deposit.amount_fiat:.2f}",
        currency=deposit.currency,
        amount_ard=deposit.amount_units,
        payment_reference=deposit.payment_reference,
        created_at=deposit.created_at,
        expires_at=deposit.expires_at,
        confirmed_at=deposit.confirmed_at,
        workflow_id=ids.deposit_workflow(deposit.deposit_id),
    )


@router.post("/deposit", status_code=201, response_model=DepositResponse)
async def deposit(
    body: DepositRequest, request: Request, agent: AgentId, state: State, idem: IdempotencyDep
) -> Response:
    """Open a deposit; credits arrive once an operator or the provider confirms the payment."""
    if isinstance(idem, Response):
        return idem
    key = request.headers.get("Idempotency-Key")
    deposit_id = uuid.uuid5(agent, f"deposit:{key}") if key else uuid.uuid4()
    terms = DepositTerms(
        deposit_id=deposit_id,
        agent_id=agent,
        amount_fiat=body.amount_fiat,
        currency=body.currency,
        expires_at=utcnow() + timedelta(seconds=state.settings.deposit_expiry_seconds),
    )
    async with unit_of_work(state.sessions) as session:  # readable at its Location at once
        await deposits.open_deposit(session, **terms.model_dump())
    try:
        await temporal.start(
            state.temporal,
            DEPOSIT_WORKFLOW,
            terms,
            id=ids.deposit_workflow(deposit_id),
            task_queue=state.settings.temporal_task_queue,
        )
    except Unavailable:
        async with unit_of_work(state.sessions) as session:
            await deposits.expire(session, deposit_id)
        raise
    units = deposits.units_for(body.amount_fiat, body.currency)
    reference = deposits.payment_reference(deposit_id)
    response = DepositResponse(
        id=deposit_id,
        agent_id=agent,
        status="pending",
        amount_fiat=f"{body.amount_fiat:.2f}",
        currency=body.currency,
        amount_ard=units,
        payment_reference=reference,
        payment_instructions=f"Pay {body.amount_fiat:.2f} {body.currency} quoting {reference}.",
        expires_at=terms.expires_at,
        workflow_id=ids.deposit_workflow(deposit_id),
    )
    location = request.url_for("deposit", deposit_id=str(deposit_id)).path
    return idem.respond(201, response, {"Location": location})


@router.get("/deposit/{deposit_id}", response_model=DepositResponse, name="deposit")
async def get_deposit(deposit_id: str, agent: AgentId, session: Session) -> DepositResponse:
    """The caller's own deposit; anyone else's is 404."""
    key = ids.parse_id(deposit_id)
    found = await deposits.get(session, key) if key else None
    if found is None or found.agent_id != agent:
        raise deposits.DepositNotFound(f"Deposit {deposit_id} not found")
    return _deposit_response(DepositState.model_validate(found))


@router.post("/deposit/{deposit_id}/confirm", response_model=DepositResponse)
async def confirm_deposit(
    deposit_id: str, confirmer: DepositConfirmer, state: State
) -> DepositResponse:
    """Operator or signed provider callback. Confirming twice credits once and answers the same.

    No database transaction is held while the workflow credits the deposit.
    """
    key = ids.parse_id(deposit_id)
    if key is None:
        raise deposits.DepositNotFound(f"Deposit {deposit_id} not found")
    try:
        confirmed: DepositState = await temporal.update(
            state.temporal,
            ids.deposit_workflow(key),
            CONFIRM_DEPOSIT,
            Confirmation(confirmed_by=confirmer),
            DepositState,
        )
    except temporal.WorkflowGone:
        async with unit_of_work(state.sessions) as session:
            confirmed = DepositState.model_validate(await deposits.get(session, key))
    if confirmed.status != "completed":
        raise InvalidState(f"Deposit {deposit_id} is {confirmed.status}")
    return _deposit_response(confirmed)


@router.get("/supply", response_model=Supply)
async def supply(session: Session, state: State) -> Supply:
    s = await ledger.supply(session)
    return Supply(
        total_minted=s.total_minted,
        total_burned=s.total_burned,
        circulating=s.circulating,
        platform_balance=s.platform_balance,
        in_escrow=s.in_escrow,
        payout_clearing=s.payout_clearing,
        total_paid_out=s.total_paid_out,
        token_name=state.settings.token_name,
    )


@router.get("/tiers", response_model=Tiers)
async def tiers() -> Tiers:
    ladder = ledger.TIERS
    return Tiers(
        tiers=[
            TierInfo(
                name=t.name,
                min_ard=t.min_ard,
                max_ard=ladder[i + 1].min_ard if i + 1 < len(ladder) else None,
                discount_pct=int(t.discount * 100),
            )
            for i, t in enumerate(ladder)
        ]
    )


@router.get("/currencies", response_model=Currencies)
async def currencies() -> Currencies:
    return Currencies(
        currencies=[
            CurrencyInfo(
                code=c.code,
                name=c.name,
                symbol=c.symbol,
                rate_per_ard=str(c.rate_per_ard),
                ard_per_unit=str((Decimal(1) / c.rate_per_ard).quantize(Decimal("0.001"))),
            )
            for c in deposits.CURRENCIES.values()
        ]
    )


@router.get("/ledger/verify")
async def verify_ledger(operator: OperatorId, session: Session) -> dict[str, Any]:
    """Walk the hash chain; report the first broken entry."""
    return (await ledger.verify(session)).report()
