"""Seller webhooks end to end: the API, a real worker and Temporal server, the outbox, and
consumers over real HTTP that verify every delivery with the `standardwebhooks` library."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core import ids, signatures
from core.security import TokenKind
from core.settings import Settings
from tests.api.helpers import assert_problem, register, until
from tests.conftest import token
from tests.webhook_consumer import Consumer, scripted_dns
from worker import schedules

SELLER = "/api/v1/seller"
Agent = dict[str, Any]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.webhook_allowlist = "127.0.0.1/32"  # the local consumers
    settings.webhook_retry_base_seconds = 0.2
    settings.webhook_max_attempts = 4
    settings.worker_shutdown_timeout_seconds = 1
    return settings


@pytest.fixture
async def hooks(
    live: httpx.AsyncClient, settings: Settings, temporal_dev: WorkflowEnvironment
) -> httpx.AsyncClient:
    """The live app, with the webhook dispatcher running as the worker process starts it."""
    await schedules.ensure_dispatcher(temporal_dev.client, settings)
    return live


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    return scripted_dns(monkeypatch)


@pytest.fixture
async def consumer() -> AsyncIterator[Consumer]:
    async with Consumer() as running:
        yield running


async def subscribe(
    api: httpx.AsyncClient, agent: Agent, consumer: Consumer, *types: str, **body: Any
) -> dict[str, Any]:
    payload = {"url": consumer.url, "event_types": list(types) or ["listing_created"], **body}
    response = await api.post(f"{SELLER}/webhook", headers=agent["headers"], json=payload)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    consumer.secret = created["secret"]
    return created


async def list_item(api: httpx.AsyncClient, seller: Agent, n: int = 0, **fields: Any) -> str:
    body = {
        "title": f"Result {n}",
        "category": "web_search",
        "content": f"result {n} {uuid.uuid4()}",
        "price_usdc": "0.005",
        **fields,
    }
    response = await api.post("/api/v1/listings", headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def deliveries(api: httpx.AsyncClient, agent: Agent, webhook: str, **params: Any) -> Any:
    response = await api.get(
        f"{SELLER}/webhooks/{webhook}/deliveries", headers=agent["headers"], params=params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def audit_entries(api: httpx.AsyncClient, agent: Agent) -> list[Any]:
    """The audit entries this agent is party to, newest first."""
    response = await api.get("/api/v1/audit/events", headers=agent["headers"])
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


# --- Registration -----------------------------------------------------------------------------


async def test_register_list_and_delete_own_webhooks(api: httpx.AsyncClient) -> None:
    owner, stranger = await register(api), await register(api)
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["listing_created", "token_transfer"]}
    response = await api.post(f"{SELLER}/webhook", headers=owner["headers"], json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "active" and created["event_types"] == body["event_types"]
    assert len(signatures.key_of(created["secret"])) == 32
    assert response.headers["Location"] == f"{SELLER}/webhooks/{created['id']}"

    mine = (await api.get(f"{SELLER}/webhooks", headers=owner["headers"])).json()
    assert mine["total"] == 1 and mine["webhooks"][0]["id"] == created["id"]
    assert "secret" not in mine["webhooks"][0]
    assert (await api.get(f"{SELLER}/webhooks", headers=stranger["headers"])).json()["total"] == 0
    one = f"{SELLER}/webhooks/{created['id']}"
    for call in (api.get(one), api.delete(one), api.get(f"{one}/deliveries")):
        assert_problem(await call, 401)
    for method, path in (("GET", one), ("DELETE", one), ("GET", f"{one}/deliveries")):
        response = await api.request(method, path, headers=stranger["headers"])
        assert_problem(response, 404, "webhook_not_found")
    assert_problem(
        await api.post(f"{one}/rotate-secret", headers=stranger["headers"]),
        404,
        "webhook_not_found",
    )
    assert_problem(await api.get(f"{SELLER}/webhooks/not-an-id", headers=owner["headers"]), 404)

    assert (await api.delete(one, headers=owner["headers"])).status_code == 204
    assert_problem(await api.get(one, headers=owner["headers"]), 404, "webhook_not_found")
    audited = await audit_entries(api, owner)
    assert [(e["event_type"], e["subject"]) for e in audited] == [
        ("webhook_deleted", f"webhook:{created['id']}"),
        ("webhook_registered", f"webhook:{created['id']}"),
    ]
    assert audited[1]["details"]["url"] == body["url"]
    assert await audit_entries(api, stranger) == []


async def test_registration_refuses_what_it_cannot_honour(api: httpx.AsyncClient) -> None:
    agent = await register(api)
    url = "http://127.0.0.1:9/hook"

    async def attempt(**body: Any) -> httpx.Response:
        payload = {"url": url, "event_types": ["listing_created"], **body}
        return await api.post(f"{SELLER}/webhook", headers=agent["headers"], json=payload)

    # The schema states what may be subscribed to and what a secret looks like (an enum and a
    # pattern), so these are refused before the app reads them.
    for types in (["cdn_decay"], ["ledger_audit_failed"], ["no_such_event"], []):
        assert_problem(await attempt(event_types=types), 422, "validation_error")
    for secret in ("plain", "whsec_short", "whsec_" + "A" * 120, "whsec_" + "A" * 31):
        assert_problem(await attempt(secret=secret), 422, "validation_error")
    given = signatures.new_secret()
    assert (await attempt(secret=given)).json()["secret"] == given
    creator_token = token(TokenKind.CREATOR, uuid.uuid4())
    response = await api.post(
        f"{SELLER}/webhook",
        headers={"Authorization": f"Bearer {creator_token}"},
        json={"url": url, "event_types": ["listing_created"]},
    )
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.1/hook",
        "http://192.168.0.10/hook",
        "http://100.64.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://224.0.0.1/",
        "ftp://127.0.0.1/hook",
        "http://user:secret@127.0.0.1/hook",
    ],
)
async def test_ssrf_is_refused_at_registration(api: httpx.AsyncClient, url: str) -> None:
    agent = await register(api)
    # Another scheme or a user in the URL is refused by the schema's pattern already.
    code = "validation_error" if url.startswith("ftp:") or "@" in url else "webhook_url_not_allowed"
    body = {"url": url, "event_types": ["listing_created"]}
    response = await api.post(f"{SELLER}/webhook", headers=agent["headers"], json=body)
    assert_problem(response, 422, code)
    gateway = {"gateway_url": url, "bearer_token": "t", "event_types": ["listing_created"]}
    response = await api.post(
        "/api/v1/integrations/openclaw/register-webhook", headers=agent["headers"], json=gateway
    )
    assert_problem(response, 422, code)


async def test_without_an_allowlist_loopback_is_refused_too(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    settings.webhook_allowlist = ""
    agent = await register(api)
    for url in ("http://localhost:8080/hook", "http://127.0.0.1:9/hook"):
        body = {"url": url, "event_types": ["listing_created"]}
        response = await api.post(f"{SELLER}/webhook", headers=agent["headers"], json=body)
        problem = assert_problem(response, 422, "webhook_url_not_allowed")
        assert problem["detail"].endswith("resolves to 127.0.0.1, a loopback address")


# --- Delivery ---------------------------------------------------------------------------------


async def test_each_event_is_accepted_once_after_failed_attempts(
    hooks: httpx.AsyncClient,
) -> None:
    async with Consumer(fail_first=2) as flaky:
        seller = await register(hooks)
        await list_item(hooks, seller, -1)  # before the webhook exists: never delivered
        webhook = await subscribe(hooks, seller, flaky)
        listed = [await list_item(hooks, seller, n) for n in range(3)]
        await flaky.until(3)
        await asyncio.sleep(0.5)  # nothing more arrives
    assert sorted(e["data"]["listing_id"] for e in flaky.events()) == sorted(listed)
    assert set(flaky.attempts.values()) == {3} and not flaky.redelivered  # the same id each time
    event = flaky.events()[0]
    assert (
        event.keys() == {"id", "type", "timestamp", "data"} and event["type"] == "listing_created"
    )
    assert event["data"]["price_usdc"] == "0.005000"  # money as the contract's decimal strings
    assert all(r.webhook_id == r.body["id"] for r in flaky.accepted.values())
    page = await deliveries(hooks, seller, webhook["id"])
    assert page["total"] == 3
    assert {(d["status"], d["attempts"], d["response_code"]) for d in page["deliveries"]} == {
        ("delivered", 3, 200)
    }


async def test_private_events_reach_only_their_audience(
    hooks: httpx.AsyncClient, consumer: Consumer
) -> None:
    owner, other, third = await register(hooks), await register(hooks), await register(hooks)
    await subscribe(hooks, owner, consumer, "token_transfer", "listing_created")
    for sender, receiver in ((other, third), (owner, other), (third, owner)):
        body = {"to_agent_id": receiver["id"], "amount": "1.000"}
        response = await hooks.post("/api/v1/wallet/transfer", headers=sender["headers"], json=body)
        assert response.status_code == 201, response.text
    await list_item(hooks, third)  # public: every subscriber gets it
    await consumer.until(3)
    await asyncio.sleep(1)
    kinds = sorted(e["type"] for e in consumer.events())
    assert kinds == ["listing_created", "token_transfer", "token_transfer"]
    for event in consumer.events():
        if event["type"] == "token_transfer":
            assert owner["id"] in (event["data"]["from_agent_id"], event["data"]["to_agent_id"])


async def test_a_dead_consumer_is_paused_and_the_others_keep_receiving(
    hooks: httpx.AsyncClient, consumer: Consumer
) -> None:
    seller, watcher = await register(hooks), await register(hooks)
    async with Consumer(down=True) as dead:
        paused = await subscribe(hooks, watcher, dead)
        await subscribe(hooks, seller, consumer)
        listed = [await list_item(hooks, seller, n) for n in range(7)]
        await consumer.until(7)  # unaffected by its neighbour
        one = f"{SELLER}/webhooks/{paused['id']}"

        async def is_paused() -> bool:
            return bool(
                (await hooks.get(one, headers=watcher["headers"])).json()["status"] == "paused"
            )

        await until(is_paused)
        view = (await hooks.get(one, headers=watcher["headers"])).json()
        assert view["paused_reason"] == f"{view['consecutive_failures']} events in a row failed"
        [pause] = [e for e in await audit_entries(hooks, watcher) if e["actor"] == "system"]
        assert pause["event_type"] == "webhook_paused" and pause["severity"] == "warning"
        assert pause["details"] == {"webhook": paused["id"], "reason": view["paused_reason"]}
        assert view["consecutive_failures"] >= 5
        failed = await deliveries(hooks, watcher, paused["id"], status="failed")
        assert failed["total"] >= 5
        assert {(d["attempts"], d["response_code"]) for d in failed["deliveries"]} == {(4, 500)}
        attempts_when_paused = sum(dead.attempts.values())
        await list_item(hooks, seller, 8)  # while paused: not queued, not sent
        await consumer.until(8)
        await asyncio.sleep(1)
        assert sum(dead.attempts.values()) == attempts_when_paused

        dead.down = False  # fixed: re-enabled, what is still pending is delivered
        dead.secret = paused["secret"]
        enabled = await hooks.post(f"{one}/enable", headers=watcher["headers"])
        assert enabled.status_code == 200 and enabled.json()["status"] == "active"
        pending = (await deliveries(hooks, watcher, paused["id"], status="pending"))["total"]
        assert pending == 7 - failed["total"]
        await dead.until(pending)
        await list_item(hooks, seller, 9)
        await dead.until(pending + 1)
    assert {e["data"]["listing_id"] for e in consumer.events()} >= set(listed)


async def test_rotated_secret_signs_beside_the_new_one(
    hooks: httpx.AsyncClient,
    consumer: Consumer,
    temporal_dev: WorkflowEnvironment,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seller = await register(hooks)
    webhook = await subscribe(hooks, seller, consumer)
    old = webhook["secret"]
    rotated = await hooks.post(
        f"{SELLER}/webhooks/{webhook['id']}/rotate-secret", headers=seller["headers"]
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] != old
    consumer.secret, consumer.also = rotated.json()["secret"], [old]  # both must verify it
    await list_item(hooks, seller)
    await consumer.until(1)
    [received] = consumer.accepted.values()
    assert received.signatures == 2 and not consumer.refused
    # secrets are read by endpoint id in the activities: never in a workflow's history or a log
    workflow = ids.webhook_workflow(uuid.UUID(webhook["id"]))
    history = (await temporal_dev.client.get_workflow_handle(workflow).fetch_history()).to_json()
    for secret in (old, consumer.secret):
        assert secret.removeprefix("whsec_") not in history + caplog.text


async def test_a_test_event_is_sent_now(hooks: httpx.AsyncClient, consumer: Consumer) -> None:
    seller = await register(hooks)
    webhook = await subscribe(hooks, seller, consumer)
    sent = await hooks.post(f"{SELLER}/webhooks/{webhook['id']}/test", headers=seller["headers"])
    assert sent.status_code == 202, sent.text
    await consumer.until(1)
    [event] = consumer.events()
    assert event["type"] == "test" and event["id"] == sent.json()["event_id"]
    assert event["data"]["webhook_id"] == webhook["id"]


# --- The SSRF guard at delivery -------------------------------------------------------------


async def test_delivery_connects_to_the_vetted_address_with_the_name_as_host(
    hooks: httpx.AsyncClient, consumer: Consumer, dns: dict[str, list[str]]
) -> None:
    dns["consumer.test"] = ["127.0.0.1"]  # a name the system cannot resolve: no second lookup
    seller = await register(hooks)
    await subscribe(hooks, seller, consumer, url=f"http://consumer.test:{consumer.port}/hook")
    await list_item(hooks, seller)
    await consumer.until(1)
    [received] = consumer.accepted.values()
    assert received.host == f"consumer.test:{consumer.port}"


async def test_a_name_that_resolves_elsewhere_later_is_refused_at_delivery(
    hooks: httpx.AsyncClient, consumer: Consumer, dns: dict[str, list[str]]
) -> None:
    dns["rebind.test"] = ["93.184.216.34"]  # public when registered
    seller = await register(hooks)
    webhook = await subscribe(
        hooks, seller, consumer, url=f"http://rebind.test:{consumer.port}/hook"
    )
    dns["rebind.test"] = ["127.0.0.2"]  # then loopback (outside the allow-list)
    await list_item(hooks, seller)

    async def refused() -> bool:
        page = await deliveries(hooks, seller, webhook["id"])
        return bool(page["total"]) and page["deliveries"][0]["attempts"] >= 2

    await until(refused)
    [delivery] = (await deliveries(hooks, seller, webhook["id"]))["deliveries"]
    assert delivery["response_code"] is None
    assert delivery["error"] == (
        "webhook_url_not_allowed: rebind.test resolves to 127.0.0.2, a loopback address"
    )
    assert not consumer.attempts


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "local"])
async def test_redirects_are_never_followed(
    hooks: httpx.AsyncClient, consumer: Consumer, target: str
) -> None:
    seller = await register(hooks)
    location = consumer.url if target == "local" else target
    async with Consumer(redirect_to=location) as redirecting:
        webhook = await subscribe(hooks, seller, redirecting)
        await list_item(hooks, seller)

        async def answered() -> bool:
            page = await deliveries(hooks, seller, webhook["id"])
            return bool(page["total"]) and page["deliveries"][0]["attempts"] >= 2

        await until(answered)
        [delivery] = (await deliveries(hooks, seller, webhook["id"]))["deliveries"]
    assert delivery["response_code"] == 307, delivery
    assert delivery["error"] == "redirects are not followed: update the URL"
    assert not consumer.attempts  # the redirect's target never heard of it
