"""Redemptions: each is a RedemptionWorkflow, driven through `api/flows/redemptions.py`;
creators open, follow and cancel their own, operators approve or reject. Monthly payout runs
for operators."""

import uuid

from fastapi import APIRouter, Request, Response

from api.deps import CreatorId, OperatorId, State
from api.flows import redemptions as flow
from api.routes import API_PREFIX
from api.schemas.common import PageNumber, PageSize
from api.schemas.redemptions import (
    Method,
    Methods,
    PayoutRunResponse,
    PayoutRuns,
    RedemptionList,
    RedemptionRequest,
    RedemptionResponse,
    RejectRequest,
)
from api.state import AppState
from core.db import read_only
from domain import redemptions
from workflows.contracts import redemption as contract
from workflows.contracts.payout import PayoutRunStatus
from workflows.contracts.redemption import (
    Approval,
    RedemptionState,
    RedemptionStatus,
    Rejection,
)

router = APIRouter(prefix=API_PREFIX, tags=["redemptions"])


def _view(redemption: RedemptionState) -> RedemptionResponse:
    return RedemptionResponse(
        **redemption.model_dump(),
        id=redemption.redemption_id,
        amount_ard=redemption.amount_units,
    )


async def _owned(state: AppState, redemption_id: str, creator: uuid.UUID) -> RedemptionState:
    async with read_only(state.sessions) as session:
        row = await redemptions.of_creator(session, redemption_id, creator)
        return RedemptionState.model_validate(row)


async def _found(state: AppState, redemption_id: str) -> RedemptionState:
    async with read_only(state.sessions) as session:
        return RedemptionState.model_validate(await redemptions.get(session, redemption_id))


@router.post("/redemptions", status_code=201, response_model=RedemptionResponse)
async def open_redemption(
    body: RedemptionRequest, request: Request, creator: CreatorId, state: State
) -> Response:
    """Hold the credits (402 when not available), then start the redemption's workflow."""
    opened = await flow.open_redemption(
        state,
        creator,
        body.redemption_type,
        body.amount_ard,
        body.currency,
        body.payout_details,
        request.headers.get("Idempotency-Key"),
    )
    redemption = opened.state
    headers = {"Location": f"/api/v1/redemptions/{redemption.redemption_id}"}
    if opened.replayed:
        headers["Idempotent-Replayed"] = "true"
    body_json = _view(redemption).model_dump_json()
    return Response(body_json, 201, headers, media_type="application/json")


@router.get("/redemptions", response_model=RedemptionList)
async def mine(
    creator: CreatorId,
    state: State,
    status: RedemptionStatus | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> RedemptionList:
    async with read_only(state.sessions) as session:
        total, rows = await redemptions.page(
            session, creator, status=status, page=page, page_size=page_size
        )
        views = [_view(RedemptionState.model_validate(row)) for row in rows]
    return RedemptionList(total=total, page=page, page_size=page_size, redemptions=views)


@router.get("/redemptions/methods", response_model=Methods)
async def methods(state: State) -> Methods:
    listed = redemptions.methods(state.settings)
    return Methods(methods=[Method(**m, min_ard=m["min_units"]) for m in listed])


@router.get("/redemptions/{redemption_id}", response_model=RedemptionResponse)
async def one(redemption_id: str, creator: CreatorId, state: State) -> RedemptionResponse:
    """Live status and step history from the workflow (the stored row if it cannot answer)."""
    return _view(await flow.live(state, await _owned(state, redemption_id, creator)))


@router.post("/redemptions/{redemption_id}/cancel", response_model=RedemptionResponse)
async def cancel(redemption_id: str, creator: CreatorId, state: State) -> RedemptionResponse:
    redemption = await _owned(state, redemption_id, creator)
    return _view(await flow.decide(state, redemption, contract.CANCEL, None))


@router.post("/redemptions/admin/{redemption_id}/approve", response_model=RedemptionResponse)
async def approve(redemption_id: str, operator: OperatorId, state: State) -> RedemptionResponse:
    redemption = await _found(state, redemption_id)
    approval = Approval(operator_id=operator)
    return _view(await flow.decide(state, redemption, contract.APPROVE, approval))


@router.post("/redemptions/admin/{redemption_id}/reject", response_model=RedemptionResponse)
async def reject(
    redemption_id: str, body: RejectRequest, operator: OperatorId, state: State
) -> RedemptionResponse:
    redemption = await _found(state, redemption_id)
    rejection = Rejection(reason=body.reason, operator_id=operator)
    return _view(await flow.decide(state, redemption, contract.REJECT, rejection))


@router.get("/payouts", response_model=PayoutRuns)
async def payout_runs(
    _: OperatorId, state: State, page: PageNumber = 1, page_size: PageSize = 20
) -> PayoutRuns:
    async with read_only(state.sessions) as session:
        total, runs = await redemptions.payout_runs(session, page=page, page_size=page_size)
        views = [
            PayoutRunResponse(
                period=r.period,
                status=PayoutRunStatus(r.status),
                creators_paid=r.creators_paid,
                total_ard=r.total_units,
                runs=r.runs,
                started_at=r.started_at,
                completed_at=r.completed_at,
            )
            for r in runs
        ]
    return PayoutRuns(total=total, page=page, page_size=page_size, payouts=views)
