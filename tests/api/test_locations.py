"""Every 201 carries a `Location` that a GET with the same caller's token reads (200), and an
idempotent replay carries it again. The 201 operations are read from the OpenAPI document, so a
new one without a row here fails the test."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.helpers import register, unique
from tests.api.test_creators import register_creator
from tests.api.test_listings import listing
from tests.conftest import bearer
from tests.ledger_helpers import mint

API = "/api/v1"
Sessions = async_sessionmaker[AsyncSession]
# (request body, the caller's headers) for each 201 operation.
Create = Callable[[httpx.AsyncClient, Sessions], Awaitable[tuple[Any, dict[str, str]]]]


async def _agent(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    return {"name": unique(), "agent_type": "both"}, {}


async def _creator(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    return {"email": f"{unique()}@example.com", "password": "p" * 12, "display_name": "L"}, {}


async def _listing(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    return listing(), (await register(client))["headers"]


async def _bulk(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    return {"items": [listing(), listing()]}, (await register(client))["headers"]


async def _transfer(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    sender, receiver = await register(client), await register(client)
    return {"to_agent_id": receiver["id"], "amount": "1"}, sender["headers"]


async def _deposit(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    return {"amount_fiat": "5.00", "currency": "USD"}, (await register(client))["headers"]


async def _purchase(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    seller, buyer = await register(client), await register(client)
    made = await client.post(f"{API}/listings", headers=seller["headers"], json=listing())
    return {"listing_id": made.json()["id"]}, buyer["headers"]


async def _redemption(client: httpx.AsyncClient, sessions: Sessions) -> tuple[Any, dict[str, str]]:
    creator = await register_creator(client)
    await mint(sessions, creator["creator"]["id"], 200_000, owner_kind="creator")
    return {"redemption_type": "api_credits", "amount_ard": "100"}, creator["headers"]


PUBLIC_URL = "https://93.184.216.34/hook"  # a public address: no name to resolve


async def _webhook(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    body = {"url": PUBLIC_URL, "event_types": ["listing_created"]}
    return body, (await register(client))["headers"]


async def _gateway(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    body = {"gateway_url": PUBLIC_URL, "bearer_token": "t", "event_types": ["listing_created"]}
    return body, (await register(client))["headers"]


async def _catalog(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    body = {"namespace": "n", "topic": "t", "price_range_min": "0", "price_range_max": "0.01"}
    return body, (await register(client))["headers"]


async def _subscription(client: httpx.AsyncClient, _: Sessions) -> tuple[Any, dict[str, str]]:
    return {"namespace_pattern": "web_search.*"}, (await register(client))["headers"]


CREATES: dict[str, Create] = {
    "/agents/register": _agent,
    "/creators/register": _creator,
    "/listings": _listing,
    "/seller/bulk-list": _bulk,
    "/wallet/transfer": _transfer,
    "/wallet/deposit": _deposit,
    "/transactions/initiate": _purchase,
    "/redemptions": _redemption,
    "/seller/webhook": _webhook,
    "/integrations/openclaw/register-webhook": _gateway,
    "/catalog": _catalog,
    "/catalog/subscribe": _subscription,
}


# Those that move money or start a workflow (and registrations) replay on Idempotency-Key.
IDEMPOTENT = CREATES.keys() - {
    "/listings",
    "/seller/bulk-list",
    "/seller/webhook",
    "/integrations/openclaw/register-webhook",
    "/catalog",
    "/catalog/subscribe",
}


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


@pytest.mark.temporal
async def test_every_201_has_a_location_that_reads_back(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    document = (await live.get("/openapi.json")).json()
    created = {
        path.removeprefix(API)
        for path, operations in document["paths"].items()
        for operation in operations.values()
        if "201" in operation["responses"]
    }
    assert created == set(CREATES), {"without a row": created - set(CREATES)}
    for path, create in CREATES.items():
        body, headers = await create(live, sessions)
        headers = {**headers, "Idempotency-Key": str(uuid.uuid4())}  # a secret when anonymous
        first = await live.post(API + path, headers=headers, json=body)
        assert first.status_code == 201, (path, first.text)
        location = first.headers.get("location")
        assert location and location.startswith(API), (path, location)
        answer = first.json()
        token = answer.get("jwt_token") or answer.get("token")  # registrations answer theirs
        reader = bearer(token) if token else headers
        read = await live.get(location, headers=reader)
        assert read.status_code == 200, (path, location, read.text)
        if path in IDEMPOTENT:
            again = await live.post(API + path, headers=headers, json=body)
            assert again.headers.get("idempotent-replayed") == "true", (path, again.text)
            assert again.headers.get("location") == location, path
