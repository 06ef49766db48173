"""Express in the API process as deployed (`worker.api_process`: a purchase worker beside the
API, express started eagerly): the request is answered from the step that ran in its process,
not by waiting for the workflow's close, and falls back to the workflow whenever the step gave
nothing here (ADR 0044)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.flows import Opened
from api.flows import purchases as purchase_flow
from api.state import AppState
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.purchase_helpers import (
    CONTENT,
    express_at_once_with_one_key,
    put_on_sale,
    wallet_of,
)
from tests.conftest import StartWorker, temporal_address
from tests.ledger_helpers import assert_invariants, balances
from worker import api_process

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def deployed(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    settings.temporal_address = temporal_address(temporal_dev.client)
    await start_worker(temporal_dev.client)  # the worker process: it polls purchases too
    app = api_process.create_app(settings)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.services
        unstarted = state.temporal
        async with asyncio.timeout(30):  # till the purchase worker switches the API to its client
            while state.temporal is unstarted:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://live") as client:
            yield client, state


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The workflows whose close an express request waited for."""
    waited: list[str] = []
    real = purchase_flow.outcome

    async def outcome(app: AppState, workflow_id: str, flow: Any) -> Any:
        waited.append(workflow_id)
        return await real(app, workflow_id, flow)

    monkeypatch.setattr(purchase_flow, "outcome", outcome)
    return waited


async def test_express_is_answered_by_its_step_and_the_workflow_closes_with_the_same_state(
    deployed: tuple[httpx.AsyncClient, AppState],
    outcomes: list[str],
    sessions: Sessions,
    temporal_dev: WorkflowEnvironment,
) -> None:
    live, state = deployed
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    response = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == CONTENT and body["buyer_balance"] == "95.000"
    assert outcomes == []  # answered without waiting for the workflow's close
    assert len(state.express_answers) == 0
    handle = temporal_dev.client.get_workflow_handle(f"purchase:{body['transaction_id']}")
    closed = await handle.result()
    assert closed["status"] == "completed" and closed["buyer_available_units"] == 95_000
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    await assert_invariants(sessions)


async def test_a_refused_express_is_answered_by_the_workflow(
    deployed: tuple[httpx.AsyncClient, AppState], outcomes: list[str], sessions: Sessions
) -> None:
    live, _ = deployed
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller, **{"price_usdc": "0.5"})  # 500 ARD > 100
    response = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    assert_problem(response, 402, "insufficient_credits")
    assert len(outcomes) == 1  # its step gave nothing: the workflow's release answered
    wallet = await wallet_of(live, buyer)
    assert (wallet["available"], wallet["held"]) == ("100.000", "0.000")
    await assert_invariants(sessions)


async def test_one_key_sent_at_once_is_one_purchase_whoever_answers(
    deployed: tuple[httpx.AsyncClient, AppState], sessions: Sessions
) -> None:
    live, state = deployed
    buyer, _, responses = await express_at_once_with_one_key(live, 12)
    assert {r.json()["buyer_balance"] for r in responses} == {"95.000"}
    assert (await balances(sessions))[buyer["id"]] == 95_000
    assert len(state.express_answers) == 0
    await assert_invariants(sessions)


async def test_a_step_that_never_reports_here_is_answered_by_the_workflow(
    deployed: tuple[httpx.AsyncClient, AppState],
    outcomes: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its task lost with this process's worker slot: after `ANSWER_SECONDS` the request asks
    the workflow, which another worker has closed."""
    live, state = deployed
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    bought = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    tx_id = uuid.UUID(bought.json()["transaction_id"])
    purchase = await purchase_flow.for_party(state, str(tx_id), uuid.UUID(buyer["id"]))
    monkeypatch.setattr(purchase_flow, "ANSWER_SECONDS", 0.2)
    with state.express_answers.awaiting(tx_id) as never:
        opened = Opened(purchase, replayed=False, here=True)
        answered = await purchase_flow._answer(state, opened, never)
    assert outcomes == [purchase.workflow_id]
    assert answered.status == "completed" and answered.transaction_id == tx_id
