"""Who calls in the authorization matrix (tests/api/test_auth_matrix.py), and the resources each
call is made against: each one made fresh for one call."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import API_PREFIX
from core.security import TokenKind
from tests.api.helpers import register
from tests.api.test_listings import listing
from tests.conftest import bearer, token
from tests.ledger_helpers import mint

Sessions = async_sessionmaker[AsyncSession]

CALLERS = (
    "owner",
    "another agent",
    "a creator",
    "an operator",
    "anonymous",
    "expired",
    "deactivated",
)
NO_TOKEN = {"anonymous": 401, "expired": 401, "deactivated": 401}


def public(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def for_agents(owner: int = 200, other: int = 404) -> dict[str, int]:
    """An agent route: the owner succeeds, another agent gets `other`, other kinds 403."""
    return {
        "owner": owner,
        "another agent": other,
        "a creator": 403,
        "an operator": 403,
        **NO_TOKEN,
    }


def for_creators(owner: int = 200, other: int = 404) -> dict[str, int]:
    """A creator route: `a creator` is another creator than the owner."""
    return {
        "owner": owner,
        "another agent": 403,
        "a creator": other,
        "an operator": 403,
        **NO_TOKEN,
    }


def for_operators(status: int = 200) -> dict[str, int]:
    """An operator route: the resource's owner (agent or creator) may not either."""
    return {"owner": 403, "another agent": 403, "a creator": 403, "an operator": status, **NO_TOKEN}


@dataclass
class Cast:
    """The callers: `agent` and `creator` own the resources; `other_*` do not. `counterpart`
    is the other party of the owner's purchases."""

    client: httpx.AsyncClient
    sessions: Sessions
    agent: dict[str, Any]
    other_agent: dict[str, Any]
    counterpart: dict[str, Any]
    creator: dict[str, Any]
    other_creator: dict[str, Any]
    operator: str
    deactivated: str

    def headers(self, caller: str, owner_kind: str) -> dict[str, str]:
        owner = self.creator["token"] if owner_kind == "creator" else self.agent["jwt_token"]
        tokens = {
            "owner": owner,
            "another agent": self.other_agent["jwt_token"],
            "a creator": self.other_creator["token"]
            if owner_kind == "creator"
            else self.creator["token"],
            "an operator": self.operator,
            "expired": token(TokenKind.AGENT, self.agent["id"], expire_hours=-1),
            "deactivated": self.deactivated,
        }
        return bearer(tokens[caller]) if caller in tokens else {}


@dataclass(frozen=True)
class Call:
    params: dict[str, str]
    json: Any = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


Setup = Callable[[Cast], Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    setup: Setup
    expect: dict[str, int]
    owner_kind: str = "agent"


# Resources, each made fresh for one call.


async def own_agent(cast: Cast) -> Call:
    return Call({"agent_id": cast.agent["id"]})


async def a_fresh_agent(cast: Cast) -> Call:
    """An agent of its own, whose token the owner-agent column uses (for a DELETE)."""
    fresh = await register(cast.client)
    cast.agent = {**cast.agent, "id": fresh["id"], "jwt_token": fresh["jwt_token"]}
    return Call({"agent_id": fresh["id"]})


async def a_listing(cast: Cast) -> Call:
    body = listing(content="matrix content", price_usdc="0.001")
    made = await cast.client.post(
        f"{API_PREFIX}/listings", headers=bearer(cast.agent["jwt_token"]), json=body
    )
    assert made.status_code == 201, made.text
    return Call({"listing_id": made.json()["id"]})


async def purchase(cast: Cast, steps: tuple[str, ...]) -> Call:
    """A purchase of the counterpart's listing by the owner-agent, taken through `steps`."""
    seller, buyer = bearer(cast.counterpart["jwt_token"]), bearer(cast.agent["jwt_token"])
    item = listing(content="matrix content", price_usdc="0.001")
    made = await cast.client.post(f"{API_PREFIX}/listings", headers=seller, json=item)
    started = await cast.client.post(
        f"{API_PREFIX}/transactions/initiate", headers=buyer, json={"listing_id": made.json()["id"]}
    )
    assert started.status_code == 201, started.text
    tx = started.json()["transaction_id"]
    for step, who in (("confirm-payment", buyer), ("deliver", seller)):
        if step in steps:
            body = {"content": "matrix content"} if step == "deliver" else None
            done = await cast.client.post(
                f"{API_PREFIX}/transactions/{tx}/{step}", headers=who, json=body
            )
            assert done.status_code == 200, done.text
    return Call({"tx_id": tx})


def purchase_after(*steps: str) -> Setup:
    return lambda cast: purchase(cast, steps)


async def seller_purchase(cast: Cast) -> Call:
    """A paid purchase of the owner-agent's listing (the owner delivers)."""
    seller, buyer = bearer(cast.agent["jwt_token"]), bearer(cast.counterpart["jwt_token"])
    item = listing(content="matrix content", price_usdc="0.001")
    made = await cast.client.post(f"{API_PREFIX}/listings", headers=seller, json=item)
    started = await cast.client.post(
        f"{API_PREFIX}/transactions/initiate", headers=buyer, json={"listing_id": made.json()["id"]}
    )
    tx = started.json()["transaction_id"]
    paid = await cast.client.post(f"{API_PREFIX}/transactions/{tx}/confirm-payment", headers=buyer)
    assert paid.status_code == 200, paid.text
    return Call({"tx_id": tx}, json={"content": "matrix content"})


async def deposit(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/wallet/deposit",
        headers=bearer(cast.agent["jwt_token"]),
        json={"amount_fiat": "1.00", "currency": "USD"},
    )
    assert made.status_code == 201, made.text
    return Call({"deposit_id": made.json()["id"]})


async def claimed_agent(cast: Cast) -> Call:
    """An agent the owner-creator already claimed; every caller shows the agent's token."""
    agent = await register(cast.client)
    proof = {"X-Agent-Token": agent["jwt_token"]}
    claimed = await cast.client.post(
        f"{API_PREFIX}/creators/me/agents/{agent['id']}/claim",
        headers={**bearer(cast.creator["token"]), **proof},
    )
    assert claimed.status_code == 200, claimed.text
    return Call({"agent_id": agent["id"]}, headers=proof)


async def redemption(cast: Cast) -> Call:
    """A pending gift-card redemption of the owner-creator's (it waits for an operator)."""
    await mint(cast.sessions, cast.creator["creator"]["id"], 1_000_000, owner_kind="creator")
    made = await cast.client.post(
        f"{API_PREFIX}/redemptions",
        headers=bearer(cast.creator["token"]),
        json={"redemption_type": "gift_card", "amount_ard": "1000"},
    )
    assert made.status_code == 201, made.text
    return Call({"redemption_id": made.json()["id"]})


PUBLIC_URL = "https://93.184.216.34/hook"  # a public address: no name to resolve, nothing listens


async def seller_webhook(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/seller/webhook",
        headers=bearer(cast.agent["jwt_token"]),
        json={"url": PUBLIC_URL, "event_types": ["listing_created"]},
    )
    assert made.status_code == 201, made.text
    return Call({"webhook_id": made.json()["id"]})


async def openclaw_webhook(cast: Cast) -> Call:
    body = {"gateway_url": PUBLIC_URL, "bearer_token": "t", "event_types": ["listing_created"]}
    made = await cast.client.post(
        f"{API_PREFIX}/integrations/openclaw/register-webhook",
        headers=bearer(cast.agent["jwt_token"]),
        json=body,
    )
    assert made.status_code == 201, made.text
    return Call({"webhook_id": made.json()["id"]})


async def board(cast: Cast) -> Call:
    return Call({"board_type": "helpfulness"})


async def catalog_entry(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/catalog",
        headers=bearer(cast.agent["jwt_token"]),
        json={
            "namespace": "matrix.web",
            "topic": "t",
            "price_range_min": "0.001",
            "price_range_max": "0.002",
        },
    )
    assert made.status_code == 201, made.text
    return Call({"entry_id": made.json()["id"]})


async def catalog_subscription(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/catalog/subscribe",
        headers=bearer(cast.agent["jwt_token"]),
        json={"namespace_pattern": "matrix.*"},
    )
    assert made.status_code == 201, made.text
    return Call({"subscription_id": made.json()["id"]})


async def with_json(call: Awaitable[Call], body: Any) -> Call:
    made = await call
    return Call(made.params, body, made.query, made.headers)


async def with_query(call: Awaitable[Call], query: dict[str, str]) -> Call:
    made = await call
    return Call(made.params, made.json, query, made.headers)
