"""Deposits through the API, a real worker and a real Temporal server."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from core import signatures
from core.db import unit_of_work
from core.settings import Settings
from domain.wallet import deposits
from tests.api.helpers import assert_problem, register
from tests.conftest import PROVIDER_SECRET, StartWorker, bearer
from workflows.contracts.deposit import DEPOSIT, DepositState, DepositTerms

WALLET = "/api/v1/wallet"


async def _deposit(
    api: httpx.AsyncClient, agent: dict[str, object], **body: object
) -> dict[str, str]:
    response = await api.post(
        f"{WALLET}/deposit",
        headers=agent["headers"],  # type: ignore[arg-type]
        json={"amount_fiat": "10.00", "currency": "USD", **body},
    )
    assert response.status_code == 201, response.text
    data: dict[str, str] = response.json()
    return data


async def _available(api: httpx.AsyncClient, agent: dict[str, object]) -> str:
    body = (await api.get(f"{WALLET}/balance", headers=agent["headers"])).json()  # type: ignore[arg-type]
    return str(body["available"])


async def test_operator_confirmation_credits_exactly_once(
    live: httpx.AsyncClient, operator_token: str
) -> None:
    agent = await register(live)
    deposit = await _deposit(live, agent, amount_fiat="8.40", currency="INR")
    assert deposit["status"] == "pending" and deposit["amount_ard"] == "100.000"
    assert deposit["workflow_id"] == f"deposit:{deposit['id']}"
    assert await _available(live, agent) == "100.000"

    confirm = f"{WALLET}/deposit/{deposit['id']}/confirm"
    first = await live.post(confirm, headers=bearer(operator_token))
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "completed"
    again = await live.post(confirm, headers=bearer(operator_token))
    assert again.status_code == 200 and again.json() == first.json()
    assert await _available(live, agent) == "200.000"
    assert (await live.get(f"{WALLET}/balance", headers=agent["headers"])).json()[
        "total_deposited"
    ] == "100.000"


async def test_agents_never_confirm_deposits(live: httpx.AsyncClient) -> None:
    agent = await register(live)
    deposit = await _deposit(live, agent)
    confirm = f"{WALLET}/deposit/{deposit['id']}/confirm"
    assert_problem(await live.post(confirm, headers=agent["headers"]), 403)
    assert_problem(await live.post(confirm), 401)
    assert await _available(live, agent) == "100.000"


async def _called_back(
    api: httpx.AsyncClient,
    deposit: dict[str, str],
    webhook_id: str | None = None,
    sent_at: int | None = None,
    secret: str = PROVIDER_SECRET,
    said: dict[str, str] | None = None,
) -> httpx.Response:
    """The provider's signed callback about `deposit` (what it says can be overridden)."""
    webhook_id, sent_at = webhook_id or uuid.uuid4().hex, sent_at or int(time.time())
    body = json.dumps(
        {
            "deposit_id": deposit["id"],
            "status": "paid",
            "amount_fiat": deposit["amount_fiat"],
            "currency": deposit["currency"],
            "payment_reference": deposit["payment_reference"],
            **(said or {}),
        }
    ).encode()
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": Webhook(secret).sign(  # as the provider's library signs it
            webhook_id, datetime.fromtimestamp(sent_at, UTC), body.decode()
        ),
    }
    return await api.post(
        f"{WALLET}/deposit/{deposit['id']}/confirm", content=body, headers=headers
    )


async def test_signed_provider_callback_confirms(live: httpx.AsyncClient) -> None:
    agent = await register(live)
    deposit = await _deposit(live, agent)
    now = int(time.time())
    assert_problem(
        await _called_back(live, deposit, "m1", now, secret=signatures.new_secret()), 401
    )
    assert_problem(await _called_back(live, deposit, "m1", now - 3600), 401)
    response = await _called_back(live, deposit, "m1", now)
    assert response.status_code == 200, response.text
    assert await _available(live, agent) == "10100.000"
    assert_problem(await _called_back(live, deposit, "m1", now), 401, "callback_replayed")


@pytest.mark.parametrize(
    "said",
    [
        {"amount_fiat": "1000000.00"},  # a $10 payment must not confirm $1,000,000
        {"currency": "EUR"},
        {"payment_reference": "DEP-SOMEONEELSE"},
        {"deposit_id": "other"},
    ],
)
async def test_a_callback_confirms_only_the_deposit_it_describes(
    live: httpx.AsyncClient, said: dict[str, str]
) -> None:
    agent = await register(live)
    deposit, other = await _deposit(live, agent), await _deposit(live, agent)
    if said.get("deposit_id") == "other":
        said = {"deposit_id": other["id"]}
    assert_problem(await _called_back(live, deposit, said=said), 422, "callback_mismatch")
    assert await _available(live, agent) == "100.000"
    mine = await live.get(f"{WALLET}/deposit/{deposit['id']}", headers=agent["headers"])
    assert mine.json()["status"] == "pending"


async def test_a_failed_payment_fails_the_deposit(live: httpx.AsyncClient) -> None:
    agent = await register(live)
    deposit = await _deposit(live, agent)
    response = await _called_back(live, deposit, said={"status": "failed"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "failed"
    assert_problem(await _called_back(live, deposit), 409, "invalid_state")
    assert await _available(live, agent) == "100.000"


async def test_a_malformed_callback_is_422(live: httpx.AsyncClient) -> None:
    agent = await register(live)
    deposit = await _deposit(live, agent)
    assert_problem(await _called_back(live, deposit, said={"status": "maybe"}), 422)


async def test_unknown_deposit_is_404(live: httpx.AsyncClient, operator_token: str) -> None:
    for deposit_id in (str(uuid.uuid4()), "not-an-id"):
        response = await live.post(
            f"{WALLET}/deposit/{deposit_id}/confirm", headers=bearer(operator_token)
        )
        assert_problem(response, 404, "deposit_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"amount_fiat": "0"},
        {"amount_fiat": "-5"},
        {"amount_fiat": "1.005"},
        {"amount_fiat": "NaN"},
        {"amount_fiat": "10", "currency": "JPY"},
        {"amount_fiat": "1e9"},
    ],
)
async def test_bad_deposits_are_422(live: httpx.AsyncClient, body: dict[str, str]) -> None:
    agent = await register(live)
    response = await live.post(f"{WALLET}/deposit", headers=agent["headers"], json=body)
    assert_problem(response, 422, "validation_error")


async def test_expired_deposit_cannot_be_confirmed(
    settings: Settings,
    temporal_dev: WorkflowEnvironment,
    live: httpx.AsyncClient,
    operator_token: str,
) -> None:
    agent = await register(live)
    settings.deposit_expiry_seconds = 1
    deposit = await _deposit(live, agent)
    result = await temporal_dev.client.get_workflow_handle(deposit["workflow_id"]).result()
    assert result["status"] == "expired"
    confirm = await live.post(
        f"{WALLET}/deposit/{deposit['id']}/confirm", headers=bearer(operator_token)
    )
    assert_problem(confirm, 409, "invalid_state")
    assert await _available(live, agent) == "100.000"


async def test_deposit_window_on_the_time_skipping_server(
    settings: Settings,
    temporal_time_skipping: WorkflowEnvironment,
    start_worker: StartWorker,
    api: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agent = await register(api)
    await start_worker(temporal_time_skipping.client)
    expires_at = await temporal_time_skipping.get_current_time() + timedelta(hours=24)
    async with unit_of_work(sessions) as session:
        row, _ = await deposits.open_deposit(
            session, uuid.uuid4(), uuid.UUID(agent["id"]), Decimal("5.00"), "USD", expires_at
        )
        pending = DepositState.model_validate(row)
    handle = await temporal_time_skipping.client.start_workflow(
        DEPOSIT.name,
        DepositTerms(deposit=pending),
        id=f"deposit:{pending.deposit_id}",
        task_queue=settings.temporal_task_queue,
        result_type=DepositState,
    )
    result = await handle.result()  # a day passes in moments
    assert result.status == "expired" and result.amount_units == 5_000_000


async def test_a_deposit_is_opened_once_per_idempotency_key(live: httpx.AsyncClient) -> None:
    agent, stranger = await register(live), await register(live)
    keyed = {**agent["headers"], "Idempotency-Key": f"dep-{uuid.uuid4()}"}
    body = {"amount_fiat": "10.00", "currency": "USD"}
    first = await live.post(f"{WALLET}/deposit", headers=keyed, json=body)
    again = await live.post(f"{WALLET}/deposit", headers=keyed, json=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await live.post(f"{WALLET}/deposit", headers=keyed, json={**body, "currency": "EUR"})
    assert_problem(other, 422, "idempotency_key_reused")
    location = first.headers["Location"]
    mine = await live.get(location, headers=agent["headers"])
    assert mine.status_code == 200 and mine.json()["status"] == "pending"
    assert_problem(await live.get(location, headers=stranger["headers"]), 404, "deposit_not_found")
