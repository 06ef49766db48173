"""Redemptions: each is a RedemptionWorkflow; creators open, follow and cancel their own,
operators approve or reject. Monthly payout runs for operators."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from api import temporal
from api.deps import CreatorId, OperatorId, State
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
    Step,
)
from api.state import AppState
from core.db import unit_of_work
from core.errors import InvalidState, Unavailable
from core.temporal import CREATOR_ID
from domain import creators, redemptions
from workflows.messages import (
    APPROVE,
    CANCEL,
    REDEMPTION_WORKFLOW,
    REJECT,
    RedemptionState,
    RedemptionTerms,
    Rejection,
)

router = APIRouter(tags=["redemptions"])


def _view(row: Any, live: RedemptionState | None = None) -> RedemptionResponse:
    fields = {k: getattr(row, k) for k in RedemptionResponse.model_fields if hasattr(row, k)}
    view = RedemptionResponse(**fields, amount_ard=row.amount_units)
    if live is not None:
        view.status = live.status
        view.provider_reference = live.provider_reference or view.provider_reference
        view.steps = [Step(status=s.status, at=s.at, note=s.note) for s in live.steps]
    return view


async def _owned(state: AppState, redemption_id: str, creator: uuid.UUID) -> Any:
    async with unit_of_work(state.sessions) as session:
        return await redemptions.of_creator(session, redemption_id, creator)


async def _found(state: AppState, redemption_id: str) -> Any:
    async with unit_of_work(state.sessions) as session:
        return await redemptions.get(session, redemption_id)


async def _decide(state: AppState, row: Any, update: str, arg: Any = None) -> RedemptionResponse:
    """Send a decision to the workflow; a closed redemption refuses it like a wrong state."""
    try:
        await temporal.update(state.temporal, row.workflow_id, update, arg, RedemptionState)
    except temporal.WorkflowGone as exc:
        raise InvalidState(f"This redemption is {row.status}") from exc
    async with unit_of_work(state.sessions) as session:
        return _view(await redemptions.get(session, row.id))


@router.post("/redemptions", status_code=201, response_model=RedemptionResponse)
async def open_redemption(
    body: RedemptionRequest, request: Request, creator: CreatorId, state: State
) -> Response:
    """Hold the credits (402 when not available), then start the redemption's workflow."""
    key = request.headers.get("Idempotency-Key")
    redemption_id = uuid.uuid5(creator, f"redemption:{key}") if key else uuid.uuid4()
    async with unit_of_work(state.sessions) as session:
        saved = await creators.current(session, creator)
        details = redemptions.details_for(saved, body.redemption_type, body.payout_details)
        creators.check_payout_details(body.redemption_type, details)
        order = redemptions.Order(body.redemption_type, body.amount_ard, body.currency, details)
        row, replayed = await redemptions.open_redemption(
            session, redemption_id, creator, order, state.settings
        )
    terms = RedemptionTerms(
        redemption_id=row.id,
        redemption_type=row.redemption_type,
        payout_attempts=state.settings.redemption_payout_attempts,
        retry_seconds=state.settings.redemption_retry_seconds,
    )
    operators_see = TypedSearchAttributes([SearchAttributePair(CREATOR_ID, str(creator))])
    try:
        await temporal.start(
            state.temporal,
            REDEMPTION_WORKFLOW,
            terms,
            id=row.workflow_id,
            task_queue=state.settings.temporal_task_queue,
            search_attributes=operators_see,
            summary=f"Redemption of {row.amount_units // 1000} ARD as {row.redemption_type}",
        )
    except Unavailable:
        async with unit_of_work(state.sessions) as session:
            await redemptions.refund(session, row.id, "failed", "the redemption could not start")
        raise
    headers = {"Location": f"/api/v1/redemptions/{row.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    async with unit_of_work(state.sessions) as session:
        view = _view(await redemptions.get(session, row.id))
    return Response(view.model_dump_json(), 201, headers, media_type="application/json")


@router.get("/redemptions", response_model=RedemptionList)
async def mine(
    creator: CreatorId,
    state: State,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> RedemptionList:
    async with unit_of_work(state.sessions) as session:
        total, rows = await redemptions.page(
            session, creator, status=status, page=page, page_size=page_size
        )
        views = [_view(row) for row in rows]
    return RedemptionList(total=total, page=page, page_size=page_size, redemptions=views)


@router.get("/redemptions/methods", response_model=Methods)
async def methods(state: State) -> Methods:
    listed = redemptions.methods(state.settings)
    return Methods(methods=[Method(**m, min_ard=m["min_units"]) for m in listed])


@router.get("/redemptions/{redemption_id}", response_model=RedemptionResponse)
async def one(redemption_id: str, creator: CreatorId, state: State) -> RedemptionResponse:
    """Live status and step history from the workflow (the stored row if it cannot answer)."""
    row = await _owned(state, redemption_id, creator)
    handle = state.temporal.get_workflow_handle(row.workflow_id)
    try:
        live = await handle.query("state", result_type=RedemptionState)
    except (RPCError, WorkflowQueryFailedError):
        live = None
    return _view(row, live)


@router.post("/redemptions/{redemption_id}/cancel", response_model=RedemptionResponse)
async def cancel(redemption_id: str, creator: CreatorId, state: State) -> RedemptionResponse:
    return await _decide(state, await _owned(state, redemption_id, creator), CANCEL)


@router.post("/redemptions/admin/{redemption_id}/approve", response_model=RedemptionResponse)
async def approve(redemption_id: str, _: OperatorId, state: State) -> RedemptionResponse:
    return await _decide(state, await _found(state, redemption_id), APPROVE)


@router.post("/redemptions/admin/{redemption_id}/reject", response_model=RedemptionResponse)
async def reject(
    redemption_id: str, body: RejectRequest, _: OperatorId, state: State
) -> RedemptionResponse:
    row = await _found(state, redemption_id)
    return await _decide(state, row, REJECT, Rejection(reason=body.reason))


@router.get("/payouts", response_model=PayoutRuns)
async def payout_runs(
    _: OperatorId, state: State, page: PageNumber = 1, page_size: PageSize = 20
) -> PayoutRuns:
    async with unit_of_work(state.sessions) as session:
        total, runs = await redemptions.payout_runs(session, page=page, page_size=page_size)
        views = [
            PayoutRunResponse(
                period=r.period,
                status=r.status,
                creators_paid=r.creators_paid,
                total_ard=r.total_units,
                runs=r.runs,
                started_at=r.started_at,
                completed_at=r.completed_at,
            )
            for r in runs
        ]
    return PayoutRuns(total=total, page=page, page_size=page_size, payouts=views)
