"""The authorization matrix, generated from the app's route table: every route with an id in its
path, called by each kind of caller, answers what the contract's refusal rule says (api.md,
"Status codes for refusals"): no valid token 401, a valid token that may not do this 403,
someone else's private resource 404. A route without a row here fails the test.

Each call gets a fresh resource (built by its row's `setup`), so no call depends on another.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import API_PREFIX, create_app
from api.openapi import route_table
from core.security import TokenKind
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.test_creators import register_creator
from tests.api.test_listings import listing
from tests.conftest import bearer, make_settings, token
from tests.ledger_helpers import mint
from worker.cli import create_operator

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


async def _own_agent(cast: Cast) -> Call:
    return Call({"agent_id": cast.agent["id"]})


async def _a_fresh_agent(cast: Cast) -> Call:
    """An agent of its own, whose token the owner-agent column uses (for a DELETE)."""
    fresh = await register(cast.client)
    cast.agent = {**cast.agent, "id": fresh["id"], "jwt_token": fresh["jwt_token"]}
    return Call({"agent_id": fresh["id"]})


async def _listing(cast: Cast) -> Call:
    body = listing(content="matrix content", price_usdc="0.001")
    made = await cast.client.post(
        f"{API_PREFIX}/listings", headers=bearer(cast.agent["jwt_token"]), json=body
    )
    assert made.status_code == 201, made.text
    return Call({"listing_id": made.json()["id"]})


async def _purchase(cast: Cast, steps: tuple[str, ...]) -> Call:
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


def _purchase_after(*steps: str) -> Setup:
    return lambda cast: _purchase(cast, steps)


async def _seller_purchase(cast: Cast) -> Call:
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


async def _deposit(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/wallet/deposit",
        headers=bearer(cast.agent["jwt_token"]),
        json={"amount_fiat": "1.00", "currency": "USD"},
    )
    assert made.status_code == 201, made.text
    return Call({"deposit_id": made.json()["id"]})


async def _claimed_agent(cast: Cast) -> Call:
    """An agent the owner-creator already claimed; every caller shows the agent's token."""
    agent = await register(cast.client)
    proof = {"X-Agent-Token": agent["jwt_token"]}
    claimed = await cast.client.post(
        f"{API_PREFIX}/creators/me/agents/{agent['id']}/claim",
        headers={**bearer(cast.creator["token"]), **proof},
    )
    assert claimed.status_code == 200, claimed.text
    return Call({"agent_id": agent["id"]}, headers=proof)


async def _redemption(cast: Cast) -> Call:
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


async def _seller_webhook(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/seller/webhook",
        headers=bearer(cast.agent["jwt_token"]),
        json={"url": PUBLIC_URL, "event_types": ["listing_created"]},
    )
    assert made.status_code == 201, made.text
    return Call({"webhook_id": made.json()["id"]})


async def _openclaw_webhook(cast: Cast) -> Call:
    body = {"gateway_url": PUBLIC_URL, "bearer_token": "t", "event_types": ["listing_created"]}
    made = await cast.client.post(
        f"{API_PREFIX}/integrations/openclaw/register-webhook",
        headers=bearer(cast.agent["jwt_token"]),
        json=body,
    )
    assert made.status_code == 201, made.text
    return Call({"webhook_id": made.json()["id"]})


async def _board(cast: Cast) -> Call:
    return Call({"board_type": "helpfulness"})


async def _catalog_entry(cast: Cast) -> Call:
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


async def _catalog_subscription(cast: Cast) -> Call:
    made = await cast.client.post(
        f"{API_PREFIX}/catalog/subscribe",
        headers=bearer(cast.agent["jwt_token"]),
        json={"namespace_pattern": "matrix.*"},
    )
    assert made.status_code == 201, made.text
    return Call({"subscription_id": made.json()["id"]})


ROWS: dict[str, Row] = {
    "GET /agents/{agent_id}": Row(_own_agent, public()),
    "GET /agents/{agent_id}/card": Row(_own_agent, public()),
    "GET /reputation/{agent_id}": Row(_own_agent, public()),
    "GET /analytics/agent/{agent_id}/profile": Row(_own_agent, public()),
    "GET /analytics/leaderboard/{board_type}": Row(_board, public()),
    "PUT /agents/{agent_id}": Row(
        lambda cast: _with_json(_own_agent(cast), {"description": "d"}), for_agents(other=403)
    ),
    "POST /agents/{agent_id}/heartbeat": Row(_own_agent, for_agents(other=403)),
    "DELETE /agents/{agent_id}": Row(_a_fresh_agent, for_agents(other=403)),
    "GET /catalog/agent/{agent_id}": Row(_own_agent, public()),
    "GET /catalog/{entry_id}": Row(_catalog_entry, public()),
    # A public resource: another agent may not change it (403).
    "PATCH /catalog/{entry_id}": Row(
        lambda cast: _with_json(_catalog_entry(cast), {"topic": "u"}), for_agents(other=403)
    ),
    "DELETE /catalog/{entry_id}": Row(_catalog_entry, for_agents(other=403)),
    # A private resource: someone else's subscription does not exist (404).
    "GET /catalog/subscribe/{subscription_id}": Row(_catalog_subscription, for_agents()),
    "DELETE /catalog/subscribe/{subscription_id}": Row(
        _catalog_subscription, for_agents(owner=204)
    ),
    "GET /listings/{listing_id}": Row(_listing, public()),
    "PUT /listings/{listing_id}": Row(
        lambda cast: _with_json(_listing(cast), {"title": "t"}), for_agents(other=403)
    ),
    "DELETE /listings/{listing_id}": Row(_listing, for_agents(other=403)),
    "GET /zkp/{listing_id}/proofs": Row(_listing, public()),
    "POST /zkp/{listing_id}/verify": Row(lambda cast: _with_json(_listing(cast), {}), public()),
    "GET /zkp/{listing_id}/bloom-check": Row(
        lambda cast: _with_query(_listing(cast), {"word": "matrix"}), public()
    ),
    # Buying one's own listing is a rule violation (422); anyone else's a purchase.
    "POST /express/{listing_id}": Row(_listing, for_agents(owner=422, other=200)),
    "GET /transactions/{tx_id}": Row(_purchase_after(), for_agents()),
    "POST /transactions/{tx_id}/confirm-payment": Row(_purchase_after(), for_agents()),
    "POST /transactions/{tx_id}/deliver": Row(_seller_purchase, for_agents()),
    "POST /transactions/{tx_id}/verify": Row(
        _purchase_after("confirm-payment", "deliver"), for_agents()
    ),
    "GET /transactions/{tx_id}/content": Row(
        _purchase_after("confirm-payment", "deliver"), for_agents()
    ),
    "GET /wallet/deposit/{deposit_id}": Row(_deposit, for_agents()),
    # Confirmed by an operator or the provider's signed callback, never by an agent.
    "POST /wallet/deposit/{deposit_id}/confirm": Row(_deposit, for_operators()),
    "GET /creators/me/agents/{agent_id}/challenge": Row(
        _claimed_agent, for_creators(other=200), owner_kind="creator"
    ),
    "POST /creators/me/agents/{agent_id}/claim": Row(
        _claimed_agent, for_creators(other=409), owner_kind="creator"
    ),
    "GET /seller/webhooks/{webhook_id}": Row(_seller_webhook, for_agents()),
    "DELETE /seller/webhooks/{webhook_id}": Row(_seller_webhook, for_agents(owner=204)),
    "GET /seller/webhooks/{webhook_id}/deliveries": Row(_seller_webhook, for_agents()),
    "POST /seller/webhooks/{webhook_id}/enable": Row(_seller_webhook, for_agents()),
    "POST /seller/webhooks/{webhook_id}/rotate-secret": Row(_seller_webhook, for_agents()),
    "POST /seller/webhooks/{webhook_id}/test": Row(_seller_webhook, for_agents(owner=202)),
    "GET /integrations/openclaw/webhooks/{webhook_id}": Row(_openclaw_webhook, for_agents()),
    "DELETE /integrations/openclaw/webhooks/{webhook_id}": Row(
        _openclaw_webhook, for_agents(owner=204)
    ),
    "POST /integrations/openclaw/webhooks/{webhook_id}/test": Row(
        _openclaw_webhook, for_agents(owner=202)
    ),
    "GET /integrations/openclaw/webhooks/{webhook_id}/deliveries": Row(
        _openclaw_webhook, for_agents()
    ),
    "POST /integrations/openclaw/webhooks/{webhook_id}/enable": Row(
        _openclaw_webhook, for_agents()
    ),
    "GET /redemptions/{redemption_id}": Row(_redemption, for_creators(), owner_kind="creator"),
    "POST /redemptions/{redemption_id}/cancel": Row(
        _redemption, for_creators(), owner_kind="creator"
    ),
    "POST /redemptions/admin/{redemption_id}/approve": Row(
        _redemption, for_operators(), owner_kind="creator"
    ),
    "POST /redemptions/admin/{redemption_id}/reject": Row(
        lambda cast: _with_json(_redemption(cast), {"reason": "no"}),
        for_operators(),
        owner_kind="creator",
    ),
}


async def _with_json(call: Awaitable[Call], body: Any) -> Call:
    made = await call
    return Call(made.params, body, made.query, made.headers)


async def _with_query(call: Awaitable[Call], query: dict[str, str]) -> Call:
    made = await call
    return Call(made.params, made.json, query, made.headers)


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


def test_every_route_with_an_id_has_a_row(tmp_path: Any) -> None:
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db", tmp_path))
    with_ids = {key for key in route_table(app, API_PREFIX) if "{" in key}
    assert with_ids == set(ROWS), {
        "routes without a row": sorted(with_ids - set(ROWS)),
        "rows without a route": sorted(set(ROWS) - with_ids),
    }


@pytest.mark.temporal
async def test_refusals_follow_the_contract(
    live: httpx.AsyncClient, sessions: Sessions, settings: Settings
) -> None:
    retired = await register(live)
    gone = await live.delete(f"{API_PREFIX}/agents/{retired['id']}", headers=retired["headers"])
    assert gone.status_code == 200
    cast = Cast(
        client=live,
        sessions=sessions,
        agent=await register(live),
        other_agent=await register(live),
        counterpart=await register(live),
        creator=await register_creator(live),
        other_creator=await register_creator(live),
        operator=await create_operator(settings, f"matrix-{uuid.uuid4().hex[:8]}"),
        deactivated=retired["jwt_token"],
    )
    documented = (await live.get("/openapi.json")).json()["paths"]
    wrong: list[str] = []

    async def check(key: str, row: Row, caller: str) -> None:
        method, path = key.split(" ", 1)
        own = Cast(**{**cast.__dict__, "agent": dict(cast.agent)})
        call = await row.setup(own)
        response = await live.request(
            method,
            API_PREFIX + path.format(**call.params),
            headers={**own.headers(caller, row.owner_kind), **call.headers},
            json=call.json,
            params=call.query,
        )
        expected = row.expect[caller]
        if response.status_code != expected:
            wrong.append(f"{key} as {caller}: {response.status_code}, not {expected}")
        operation = documented[API_PREFIX + path][method.lower()]
        if str(response.status_code) not in operation["responses"]:
            wrong.append(f"{key} as {caller}: {response.status_code} is not documented")

    for key, row in ROWS.items():
        await asyncio.gather(*(check(key, row, caller) for caller in CALLERS))
    assert not wrong, "\n".join(wrong)


async def test_tokens_of_unknown_subjects_are_401(api: httpx.AsyncClient) -> None:
    """Well signed, unexpired, but naming nobody: as good as no token."""
    for kind, path in (
        (TokenKind.AGENT, "/wallet/balance"),
        (TokenKind.CREATOR, "/redemptions"),
        (TokenKind.OPERATOR, "/operators/me"),
    ):
        ghost = bearer(token(kind, uuid.uuid4()))
        assert_problem(await api.get(API_PREFIX + path, headers=ghost), 401, "invalid_token")
