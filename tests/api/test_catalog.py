"""The catalog over HTTP: entries (only the owner changes or retires one), search, auto-populate,
and subscriptions: a matching new or changed entry reaches its subscriber as `catalog_update`
over a real WebSocket client (an API process as production runs it) and as a signed webhook to a
real local consumer (the durable delivery, worker and Temporal dev server); a non-matching one
sends nothing."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import ClientConnection, connect

from core.settings import Settings
from domain.events import EventType
from models.events import Event
from tests.api.helpers import assert_problem, register
from tests.api_processes import ApiProcess, separate_processes
from tests.webhook_consumer import Consumer
from worker import schedules

CATALOG = "/api/v1/catalog"
Agent = dict[str, Any]
Sessions = async_sessionmaker[AsyncSession]
WAIT = 15.0


def entry(**fields: Any) -> dict[str, Any]:
    return {
        "namespace": "web_search.python",
        "topic": "asyncio tutorials",
        "description": "Fresh web search results about Python asyncio",
        "category": "web_search",
        "price_range_min": "0.002",
        "price_range_max": "0.010",
        **fields,
    }


async def declare(api: httpx.AsyncClient, seller: Agent, **fields: Any) -> dict[str, Any]:
    response = await api.post(CATALOG, headers=seller["headers"], json=entry(**fields))
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def subscribe(api: httpx.AsyncClient, buyer: Agent, **body: Any) -> dict[str, Any]:
    response = await api.post(f"{CATALOG}/subscribe", headers=buyer["headers"], json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


# Entries each miss one filter of the subscription below.
MATCHING = {"namespace_pattern": "web_search.*", "topic_pattern": "*asyncio*"}
FILTERS = {**MATCHING, "category_filter": "web_search", "max_price": "0.005", "min_quality": "0.4"}
MISSES = [
    {"namespace": "code_analysis.python"},  # namespace pattern
    {"topic": "django tutorials"},  # topic pattern
    {"category": "computation"},  # category
    {"price_range_min": "0.006", "price_range_max": "0.010"},  # above max_price
]


# --- Entries ----------------------------------------------------------------------------------


async def test_owner_declares_changes_and_retires_an_entry(api: httpx.AsyncClient) -> None:
    owner, stranger = await register(api), await register(api)
    response = await api.post(CATALOG, headers=owner["headers"], json=entry())
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["Location"] == f"{CATALOG}/{made['id']}"
    assert made["agent_id"] == owner["id"] and made["status"] == "active"
    assert made["price_range_min"] == "0.002000" and made["price_range_max"] == "0.010000"
    assert made["quality_avg"] == "0.500" and made["schema_json"] == {}
    one = f"{CATALOG}/{made['id']}"
    assert (await api.get(one)).json()["topic"] == "asyncio tutorials"

    # Another agent may neither change nor retire it (a public resource: 403); nobody without
    # a token at all (401).
    for method, body in (("PATCH", {"topic": "mine now"}), ("DELETE", None)):
        refused = await api.request(method, one, headers=stranger["headers"], json=body)
        assert_problem(refused, 403, "not_owner")
        assert_problem(await api.request(method, one, json=body), 401)
    assert (await api.get(one)).json()["topic"] == "asyncio tutorials"

    changed = await api.patch(
        one, headers=owner["headers"], json={"topic": "trio", "price_range_max": "0.02"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["topic"] == "trio" and changed.json()["price_range_max"] == "0.020000"
    assert_problem(
        await api.patch(one, headers=owner["headers"], json={"price_range_min": "0.5"}),
        422,
        "invalid_price_range",
    )
    retired = await api.delete(one, headers=owner["headers"])
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert_problem(await api.delete(one, headers=owner["headers"]), 409, "invalid_state")
    assert_problem(await api.patch(one, headers=owner["headers"], json={"topic": "x"}), 409)
    assert_problem(await api.get(f"{CATALOG}/{uuid.uuid4()}"), 404, "catalog_entry_not_found")
    assert_problem(await api.get(f"{CATALOG}/not-an-id"), 404, "catalog_entry_not_found")


async def test_bad_declarations_are_422(api: httpx.AsyncClient) -> None:
    owner = await register(api)
    for bad in (
        entry(price_range_min="0.02", price_range_max="0.01"),
        entry(price_range_max="0"),
        entry(namespace=""),
        entry(category="weather"),
        entry(price_range_min="0.0000001"),
    ):
        response = await api.post(CATALOG, headers=owner["headers"], json=bad)
        assert_problem(response, 422)


async def test_search_and_an_agents_entries(api: httpx.AsyncClient) -> None:
    seller, other = await register(api), await register(api)
    tag = uuid.uuid4().hex[:8]
    a = await declare(
        api, seller, namespace=f"web_search.{tag}", topic="asyncio guides", description=""
    )
    b = await declare(
        api,
        seller,
        namespace=f"code_analysis.{tag}",
        topic="lint reports",
        description="",
        category="code_analysis",
        price_range_min="0.02",
        price_range_max="0.03",
    )
    c = await declare(api, other, namespace=f"web_search.{tag}", topic="rust news", description="")
    retired = await declare(api, seller, namespace=f"web_search.{tag}", topic="asyncio old")
    await api.delete(f"{CATALOG}/{retired['id']}", headers=seller["headers"])

    async def found(**params: Any) -> set[str]:
        response = await api.get(f"{CATALOG}/search", params=params)
        assert response.status_code == 200, response.text
        return {e["id"] for e in response.json()["entries"]}

    assert await found(q=f"{tag} asyncio") == {a["id"]}
    assert await found(namespace=f"web_search.{tag}") == {a["id"], c["id"]}
    assert await found(q=tag, category="code_analysis") == {b["id"]}
    assert await found(q=tag, max_price="0.01") == {a["id"], c["id"]}
    assert await found(q=tag, min_quality="0.6") == set()
    assert await found(q=f"{tag} %") == await found(q=tag)  # `%` is no wildcard, only noise
    mine = await api.get(f"{CATALOG}/agent/{seller['id']}")
    assert {e["id"] for e in mine.json()["entries"]} == {a["id"], b["id"]}
    assert_problem(await api.get(f"{CATALOG}/agent/{uuid.uuid4()}"), 404)


async def test_auto_populate_makes_one_entry_per_category(api: httpx.AsyncClient) -> None:
    seller = await register(api)
    for category, price, quality in (
        ("web_search", "0.004", "0.6"),
        ("web_search", "0.008", "0.8"),
        ("code_analysis", "0.02", "0.9"),
    ):
        body = {
            "title": f"{category} result",
            "category": category,
            "content": uuid.uuid4().hex,
            "price_usdc": price,
            "quality_score": quality,
        }
        made = await api.post("/api/v1/listings", headers=seller["headers"], json=body)
        assert made.status_code == 201, made.text
    first = await api.post(f"{CATALOG}/auto-populate", headers=seller["headers"])
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["updated"]) == (2, 0)
    by_ns = {e["namespace"]: e for e in first.json()["entries"]}
    assert set(by_ns) == {"web_search", "code_analysis"}
    web = by_ns["web_search"]
    assert (web["price_range_min"], web["price_range_max"]) == ("0.004000", "0.008000")
    assert web["quality_avg"] == "0.700" and web["active_listings_count"] == 2
    again = await api.post(f"{CATALOG}/auto-populate", headers=seller["headers"])
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
        0,
        0,
        2,
    )
    body = {"title": "more", "category": "web_search", "content": "x", "price_usdc": "0.001"}
    await api.post("/api/v1/listings", headers=seller["headers"], json=body)
    third = await api.post(f"{CATALOG}/auto-populate", headers=seller["headers"])
    assert (third.json()["created"], third.json()["updated"]) == (0, 1)
    assert_problem(await api.post(f"{CATALOG}/auto-populate"), 401)


async def test_subscriptions_are_private_to_their_subscriber(api: httpx.AsyncClient) -> None:
    buyer, stranger = await register(api), await register(api)
    made = await subscribe(api, buyer, **FILTERS)
    assert made["webhook_id"] is None and made["webhook_secret"] is None
    assert made["max_price"] == "0.005000" and made["min_quality"] == "0.4"
    one = f"{CATALOG}/subscribe/{made['id']}"
    assert_problem(
        await api.delete(one, headers=stranger["headers"]), 404, "subscription_not_found"
    )
    assert (await api.get(one, headers=buyer["headers"])).status_code == 200
    mine = await api.get(f"{CATALOG}/subscriptions", headers=buyer["headers"])
    assert [s["id"] for s in mine.json()["subscriptions"]] == [made["id"]]
    theirs = await api.get(f"{CATALOG}/subscriptions", headers=stranger["headers"])
    assert theirs.json()["total"] == 0
    assert (await api.delete(one, headers=buyer["headers"])).status_code == 204
    assert_problem(await api.delete(one, headers=buyer["headers"]), 404)
    no_url = {**MATCHING, "notify_via": "webhook"}
    response = await api.post(f"{CATALOG}/subscribe", headers=buyer["headers"], json=no_url)
    assert_problem(response, 422, "webhook_url_required")
    private = {**MATCHING, "notify_via": "webhook", "webhook_url": "http://10.0.0.1/hook"}
    response = await api.post(f"{CATALOG}/subscribe", headers=buyer["headers"], json=private)
    assert_problem(response, 422, "webhook_url_not_allowed")


async def _catalog_events(sessions: Sessions, entry_id: str) -> list[Event]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Event).where(Event.type == EventType.CATALOG_UPDATE).order_by(Event.sequence)
        )
        return [e for e in rows if e.payload["entry"]["id"] == entry_id]


async def test_only_matching_entries_make_events(
    api: httpx.AsyncClient, sessions: Sessions
) -> None:
    seller, buyer, bystander = await register(api), await register(api), await register(api)
    tag = uuid.uuid4().hex[:6]
    sub = await subscribe(api, buyer, **{**FILTERS, "namespace_pattern": f"{tag}.*"})
    for miss in [*MISSES[1:], {"namespace": f"x{tag}.python"}]:
        made = await declare(api, seller, **{"namespace": f"{tag}.python", **miss})
        assert await _catalog_events(sessions, made["id"]) == [], miss
    own = await declare(api, buyer, namespace=f"{tag}.python")  # never told of its own entry
    assert await _catalog_events(sessions, own["id"]) == []
    hit = await declare(api, seller, namespace=f"{tag}.python")
    [event] = await _catalog_events(sessions, hit["id"])
    assert event.audience == [buyer["id"]] and event.payload["subscription_id"] == sub["id"]
    assert event.payload["change"] == "created"
    assert bystander["id"] not in event.audience
    # A change that still matches is sent; one that stops matching is not.
    one = f"{CATALOG}/{hit['id']}"
    await api.patch(one, headers=seller["headers"], json={"description": "now with trio"})
    await api.patch(one, headers=seller["headers"], json={"price_range_min": "0.009"})
    changes = [e.payload["change"] for e in await _catalog_events(sessions, hit["id"])]
    assert changes == ["created", "updated"]
    await api.delete(f"{CATALOG}/subscribe/{sub['id']}", headers=buyer["headers"])
    after = await declare(api, seller, namespace=f"{tag}.python")
    assert await _catalog_events(sessions, after["id"]) == []


# --- Over a real WebSocket ------------------------------------------------------------------


@pytest.fixture
def process(settings: Settings) -> Iterator[ApiProcess]:
    with separate_processes(1, settings) as [started]:
        yield started


@pytest.fixture
async def http(process: ApiProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=process.url, timeout=30) as client:
        yield client


async def _next(ws: ClientConnection, within: float = WAIT) -> dict[str, Any]:
    async with asyncio.timeout(within):
        message: dict[str, Any] = json.loads(await ws.recv())
        return message


async def test_a_subscriber_receives_catalog_update_over_its_websocket(
    process: ApiProcess, http: httpx.AsyncClient
) -> None:
    seller, buyer, other = await register(http), await register(http), await register(http)
    tag = uuid.uuid4().hex[:6]
    sub = await subscribe(http, buyer, **{**FILTERS, "namespace_pattern": f"{tag}.*"})
    url = f"{process.ws}/ws/feed?token={buyer['jwt_token']}&types=catalog_update"
    url_other = f"{process.ws}/ws/feed?token={other['jwt_token']}&types=catalog_update"
    async with connect(url, proxy=None) as ws, connect(url_other, proxy=None) as bystander:
        # Live once the first matching entry arrives; entries made before then are replayed
        # from the outbox only with `since`, so wait for a probe first.
        probe = await declare(http, seller, namespace=f"{tag}.probe")
        for _ in range(50):
            try:
                first = await _next(ws, within=0.5)
                break
            except TimeoutError:
                probe = await declare(http, seller, namespace=f"{tag}.probe")
        else:
            raise AssertionError("the feed never went live")
        assert first["type"] == "catalog_update"
        assert first["data"]["subscription_id"] == sub["id"]
        while first["data"]["entry"]["id"] != probe["id"]:
            first = await _next(ws)
        for miss in MISSES[1:]:
            await declare(http, seller, **{"namespace": f"{tag}.python", **miss})
        hit = await declare(http, seller, namespace=f"{tag}.python")
        message = await _next(ws)  # the misses sent nothing: the next one is the hit
        assert message["type"] == "catalog_update"
        assert message["data"]["entry"]["id"] == hit["id"]
        assert message["data"]["entry"]["price_range_min"] == "0.002000"
        assert message["data"]["change"] == "created"
        changed = await http.patch(
            f"/api/v1/catalog/{hit['id']}", headers=seller["headers"], json={"topic": "asyncio 2"}
        )
        assert changed.status_code == 200
        update = await _next(ws)
        assert update["data"]["change"] == "updated" and update["data"]["entry"]["topic"] == (
            "asyncio 2"
        )
        with pytest.raises(TimeoutError):  # nobody else's subscription, nothing for them
            await _next(bystander, within=1.0)


# --- Over a signed webhook --------------------------------------------------------------------


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    settings.webhook_allowlist = "127.0.0.1/32"  # the local consumer
    settings.webhook_retry_base_seconds = 0.2
    settings.worker_shutdown_timeout_seconds = 1
    return settings


@pytest.mark.temporal
async def test_a_subscriber_receives_catalog_update_by_signed_webhook(
    hook_settings: Settings,
    live: httpx.AsyncClient,
    temporal_dev: WorkflowEnvironment,
    sessions: Sessions,
) -> None:
    await schedules.ensure_dispatcher(temporal_dev.client, hook_settings)
    api = live
    seller, buyer = await register(api), await register(api)
    tag = uuid.uuid4().hex[:6]
    async with Consumer() as consumer, Consumer() as elsewhere:
        sub = await subscribe(
            api,
            buyer,
            **{**FILTERS, "namespace_pattern": f"{tag}.*"},
            notify_via="webhook",
            webhook_url=consumer.url,
        )
        assert sub["webhook_secret"].startswith("whsec_") and sub["webhook_id"]
        consumer.secret = sub["webhook_secret"]
        # The same buyer's other subscription, by webhook too, for entries that never come.
        other = await subscribe(
            api,
            buyer,
            namespace_pattern=f"none-{tag}.*",
            notify_via="webhook",
            webhook_url=elsewhere.url,
        )
        elsewhere.secret = other["webhook_secret"]
        for miss in MISSES[1:]:
            await declare(api, seller, **{"namespace": f"{tag}.python", **miss})
        hit = await declare(api, seller, namespace=f"{tag}.python")
        await consumer.until(1)
        [received] = consumer.accepted.values()
        assert received.body["type"] == "catalog_update"  # verified by `standardwebhooks`
        assert received.body["data"]["subscription_id"] == sub["id"]
        assert received.body["data"]["entry"]["id"] == hit["id"]
        [event] = await _catalog_events(sessions, hit["id"])
        assert received.webhook_id == str(event.id)
        # Everything committed before the hit has been dispatched by now: nothing else came.
        await asyncio.sleep(1.0)
        assert len(consumer.accepted) == 1 and not consumer.refused
        assert not elsewhere.accepted and not elsewhere.attempts
        deliveries = await api.get(
            f"/api/v1/seller/webhooks/{sub['webhook_id']}/deliveries", headers=buyer["headers"]
        )
        assert deliveries.json()["total"] == 1
        # Unsubscribing removes the endpoint too.
        gone = await api.delete(f"{CATALOG}/subscribe/{sub['id']}", headers=buyer["headers"])
        assert gone.status_code == 204
        endpoint = await api.get(
            f"/api/v1/seller/webhooks/{sub['webhook_id']}", headers=buyer["headers"]
        )
        assert endpoint.status_code == 404
