"""The OpenClaw integration end to end: a gateway over real HTTP receives `{message,
sessionKey}` with its bearer token through the same durable delivery as seller webhooks."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core import ids
from core.settings import Settings
from tests.api.helpers import assert_problem, register, until
from tests.api.test_webhooks import list_item
from tests.webhook_consumer import Consumer
from worker import schedules

OPENCLAW = "/api/v1/integrations/openclaw"
TOKEN = "oc-gateway-token-" + "s" * 24


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.webhook_allowlist = "127.0.0.1/32"
    settings.webhook_retry_base_seconds = 0.2
    settings.worker_shutdown_timeout_seconds = 1
    return settings


@pytest.fixture
async def hooks(
    live: httpx.AsyncClient, settings: Settings, temporal_dev: WorkflowEnvironment
) -> httpx.AsyncClient:
    await schedules.ensure_dispatcher(temporal_dev.client, settings)
    return live


@pytest.fixture
async def gateway() -> AsyncIterator[Consumer]:
    async with Consumer(bearer=TOKEN, answer_status=202) as running:
        yield running


async def connect(
    api: httpx.AsyncClient, agent: dict[str, Any], gateway: Consumer, **body: Any
) -> dict[str, Any]:
    payload = {
        "gateway_url": gateway.url,
        "bearer_token": TOKEN,
        "event_types": ["listing_created"],
        **body,
    }
    response = await api.post(
        f"{OPENCLAW}/register-webhook", headers=agent["headers"], json=payload
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"{OPENCLAW}/webhooks/{created['id']}"
    return created


async def test_register_list_status_and_delete(api: httpx.AsyncClient) -> None:
    agent, stranger = await register(api), await register(api)
    filters = {"categories": ["web_search"], "min_urgency": "0.5"}
    async with Consumer() as gateway:
        created = await connect(api, agent, gateway, filters=filters)
    assert created["status"] == "active" and created["gateway_url"] == gateway.url
    assert created["filters"] == filters and "bearer_token" not in created
    listed = (await api.get(f"{OPENCLAW}/webhooks", headers=agent["headers"])).json()
    assert [w["id"] for w in listed["webhooks"]] == [created["id"]]
    assert TOKEN not in json.dumps(listed)
    status = (await api.get(f"{OPENCLAW}/status", headers=agent["headers"])).json()
    assert status == {
        "connected": True,
        "webhooks": 1,
        "active": 1,
        "paused": 0,
        "last_delivery_at": None,
        "last_error": None,
    }
    one = f"{OPENCLAW}/webhooks/{created['id']}"
    assert_problem(await api.delete(one, headers=stranger["headers"]), 404, "webhook_not_found")
    assert_problem(await api.post(f"{one}/test", headers=stranger["headers"]), 404)
    # a seller webhook route does not reach a gateway webhook either
    seller_view = f"/api/v1/seller/webhooks/{created['id']}"
    assert_problem(await api.get(seller_view, headers=agent["headers"]), 404, "webhook_not_found")
    assert (await api.delete(one, headers=agent["headers"])).status_code == 204
    status = (await api.get(f"{OPENCLAW}/status", headers=agent["headers"])).json()
    assert status["connected"] is False and status["webhooks"] == 0
    bad = {"gateway_url": gateway.url, "bearer_token": "", "event_types": ["listing_created"]}
    response = await api.post(f"{OPENCLAW}/register-webhook", headers=agent["headers"], json=bad)
    assert_problem(response, 422, "validation_error")


async def test_events_reach_the_gateway_with_its_token(
    hooks: httpx.AsyncClient, gateway: Consumer, temporal_dev: WorkflowEnvironment
) -> None:
    agent = await register(hooks)
    created = await connect(hooks, agent, gateway, filters={"categories": ["web_search"]})
    await list_item(hooks, agent, 0, category="code_analysis")  # filtered out
    listing = await list_item(hooks, agent, 1)
    await gateway.until(1)
    sent = await hooks.post(f"{OPENCLAW}/webhooks/{created['id']}/test", headers=agent["headers"])
    assert sent.status_code == 202, sent.text
    await gateway.until(2)
    first, test = gateway.events()
    assert first["sessionKey"] == "agentchains-listing_created"
    assert first["message"].startswith("AgentChains listing_created at ")
    assert listing in first["message"] and '"price_usdc":"0.005000"' in first["message"]
    assert test["sessionKey"] == "agentchains-test"
    status = (await hooks.get(f"{OPENCLAW}/status", headers=agent["headers"])).json()
    assert status["last_delivery_at"] is not None
    # the token lives sealed in the database: not in the workflow's inputs or history
    handle = temporal_dev.client.get_workflow_handle(ids.webhook_workflow(uuid.UUID(created["id"])))
    assert TOKEN not in (await handle.fetch_history()).to_json()


async def test_three_attempts_success_on_200_or_202_then_paused_after_five(
    hooks: httpx.AsyncClient,
) -> None:
    agent = await register(hooks)
    async with Consumer(bearer=TOKEN, answer_status=204) as gateway:  # 204 is not success here
        created = await connect(hooks, agent, gateway)
        for n in range(6):
            await list_item(hooks, agent, n)
        one = f"{OPENCLAW}/webhooks/{created['id']}"

        async def paused() -> bool:
            listed = (await hooks.get(f"{OPENCLAW}/webhooks", headers=agent["headers"])).json()
            return bool(listed["webhooks"][0]["status"] == "paused")

        await until(paused)
        response = await hooks.get(
            f"{one}/deliveries", headers=agent["headers"], params={"status": "failed"}
        )
        failed = response.json()
    assert failed["total"] >= 5  # attempts in flight when it paused finish
    assert {(d["attempts"], d["response_code"]) for d in failed["deliveries"]} == {(3, 204)}
    assert max(gateway.attempts.values()) == 3  # never more than 3 attempts of one event
    status = (await hooks.get(f"{OPENCLAW}/status", headers=agent["headers"])).json()
    assert (status["connected"], status["paused"], status["last_error"]) == (
        False,
        1,
        "answered 204",
    )
    assert_problem(await hooks.post(f"{one}/test", headers=agent["headers"]), 409, "invalid_state")
