"""The ARD wallet: balances, history, transfers, deposits, supply, tiers, currencies, audit."""

import uuid
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import (
    AgentId,
    DepositConfirmer,
    IdempotencyDep,
    OperatorId,
    ReadSession,
    Session,
    State,
)
from api.flows import deposits as flow
from api.routes import API_PREFIX
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
from core.money import units_to_usdc
from core.settings import Settings
from domain import ledger
from domain.wallet import accounts, deposits, transfers
from workflows.contracts.deposit import DepositState

router = APIRouter(prefix=f"{API_PREFIX}/wallet", tags=["wallet"])


@router.get("/balance", response_model=WalletBalance)
async def balance(agent: AgentId, session: ReadSession, state: State) -> WalletBalance:
    return await balance_of(session, agent, state.settings)


async def balance_of(session: AsyncSession, agent: uuid.UUID, settings: Settings) -> WalletBalance:
    """An agent's wallet (REST and the MCP tool)."""
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
        token_name=settings.token_name,
    )


@router.get("/history", response_model=WalletHistory, name="history")
async def history(
    agent: AgentId, session: ReadSession, page: PageNumber = 1, page_size: PageSize = 20
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
    key = ids.transfer_key(agent, request.headers.get("Idempotency-Key"))
    movement = await state.transfers.send(
        transfers.Transfer(agent, body.to_agent_id, body.amount, body.memo, key), session
    )
    answer = TransferResponse.model_validate(movement, from_attributes=True)
    return await idem.respond(201, answer, {"Location": request.url_for("history").path})


def _deposit_response(deposit: DepositState, instructions: str | None = None) -> DepositResponse:
    return DepositResponse(
        id=deposit.deposit_id,
        agent_id=deposit.agent_id,
        status=deposit.status,
        amount_fiat=f"{deposit.amount_fiat:.2f}",
        currency=deposit.currency,
        amount_ard=deposit.amount_units,
        payment_reference=deposit.payment_reference,
        payment_instructions=instructions,
        created_at=deposit.created_at,
        expires_at=deposit.expires_at,
        confirmed_at=deposit.confirmed_at,
        workflow_id=ids.deposit_workflow(deposit.deposit_id),
    )


@router.post("/deposit", status_code=201, response_model=DepositResponse)
async def deposit(body: DepositRequest, request: Request, agent: AgentId, state: State) -> Response:
    """Open a deposit; credits arrive once an operator or the provider confirms the payment."""
    key = request.headers.get("Idempotency-Key")
    opened = await flow.open_deposit(state, agent, body.amount_fiat, body.currency, key)
    pending = opened.state
    instructions = (
        f"Pay {pending.amount_fiat:.2f} {pending.currency} quoting {pending.payment_reference}."
    )
    location = request.url_for("deposit", deposit_id=str(pending.deposit_id)).path
    headers = {"Location": location}
    if opened.replayed:
        headers["Idempotent-Replayed"] = "true"
    answer = _deposit_response(pending, instructions).model_dump_json()
    return Response(answer, 201, headers, media_type="application/json")


@router.get("/deposit/{deposit_id}", response_model=DepositResponse, name="deposit")
async def one_deposit(deposit_id: str, agent: AgentId, session: ReadSession) -> DepositResponse:
    """One of the caller's deposits; anyone else's does not exist."""
    found = await deposits.of_agent(session, deposit_id, agent)
    return _deposit_response(DepositState.model_validate(found))


@router.post("/deposit/{deposit_id}/confirm", response_model=DepositResponse)
async def confirm_deposit(
    deposit_id: str, confirmer: DepositConfirmer, state: State
) -> DepositResponse:
    """Operator or signed provider callback. Confirming twice credits once and answers the same.

    No database transaction is held while the workflow credits the deposit.
    """
    confirmed = await flow.confirm(state, deposit_id, confirmer.by, confirmer.callback)
    return _deposit_response(confirmed)


@router.get("/supply", response_model=Supply)
async def supply(session: ReadSession, state: State) -> Supply:
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
async def verify_ledger(operator: OperatorId, session: ReadSession) -> dict[str, Any]:
    """Walk the hash chain; report the first broken entry."""
    return (await ledger.verify(session)).report()
