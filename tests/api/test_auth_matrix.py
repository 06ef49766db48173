"""The authorization matrix, generated from the app's route table: every route with an id in its
path, called by each kind of caller, answers what the contract's refusal rule says (api.md,
"Status codes for refusals"): no valid token 401, a valid token that may not do this 403,
someone else's private resource 404. A route without a row here fails the test.

Each call gets a fresh resource (built by its row's `setup`), so no call depends on another.
"""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import API_PREFIX, create_app
from api.openapi import route_table
from core.security import TokenKind
from core.settings import Settings
from tests.api.auth_cast import (
    CALLERS,
    Cast,
    Row,
    a_fresh_agent,
    a_listing,
    board,
    catalog_entry,
    catalog_subscription,
    claimed_agent,
    deposit,
    for_agents,
    for_creators,
    for_operators,
    openclaw_webhook,
    own_agent,
    public,
    purchase_after,
    redemption,
    seller_purchase,
    seller_webhook,
    with_json,
    with_query,
)
from tests.api.helpers import assert_problem, register
from tests.api.test_creators import register_creator
from tests.conftest import bearer, make_settings, token
from worker.cli import create_operator

Sessions = async_sessionmaker[AsyncSession]

ROWS: dict[str, Row] = {
    "GET /agents/{agent_id}": Row(own_agent, public()),
    "GET /agents/{agent_id}/card": Row(own_agent, public()),
    "GET /reputation/{agent_id}": Row(own_agent, public()),
    "GET /analytics/agent/{agent_id}/profile": Row(own_agent, public()),
    "GET /analytics/leaderboard/{board_type}": Row(board, public()),
    "PUT /agents/{agent_id}": Row(
        lambda cast: with_json(own_agent(cast), {"description": "d"}), for_agents(other=403)
    ),
    "POST /agents/{agent_id}/heartbeat": Row(own_agent, for_agents(other=403)),
    "DELETE /agents/{agent_id}": Row(a_fresh_agent, for_agents(other=403)),
    "GET /catalog/agent/{agent_id}": Row(own_agent, public()),
    "GET /catalog/{entry_id}": Row(catalog_entry, public()),
    # A public resource: another agent may not change it (403).
    "PATCH /catalog/{entry_id}": Row(
        lambda cast: with_json(catalog_entry(cast), {"topic": "u"}), for_agents(other=403)
    ),
    "DELETE /catalog/{entry_id}": Row(catalog_entry, for_agents(other=403)),
    # A private resource: someone else's subscription does not exist (404).
    "GET /catalog/subscribe/{subscription_id}": Row(catalog_subscription, for_agents()),
    "DELETE /catalog/subscribe/{subscription_id}": Row(catalog_subscription, for_agents(owner=204)),
    "GET /listings/{listing_id}": Row(a_listing, public()),
    "PUT /listings/{listing_id}": Row(
        lambda cast: with_json(a_listing(cast), {"title": "t"}), for_agents(other=403)
    ),
    "DELETE /listings/{listing_id}": Row(a_listing, for_agents(other=403)),
    "GET /zkp/{listing_id}/proofs": Row(a_listing, public()),
    "POST /zkp/{listing_id}/verify": Row(lambda cast: with_json(a_listing(cast), {}), public()),
    "GET /zkp/{listing_id}/bloom-check": Row(
        lambda cast: with_query(a_listing(cast), {"word": "matrix"}), public()
    ),
    # Buying one's own listing is a rule violation (422); anyone else's a purchase.
    "POST /express/{listing_id}": Row(a_listing, for_agents(owner=422, other=200)),
    "GET /transactions/{tx_id}": Row(purchase_after(), for_agents()),
    "POST /transactions/{tx_id}/confirm-payment": Row(purchase_after(), for_agents()),
    "POST /transactions/{tx_id}/deliver": Row(seller_purchase, for_agents()),
    "POST /transactions/{tx_id}/verify": Row(
        purchase_after("confirm-payment", "deliver"), for_agents()
    ),
    "GET /transactions/{tx_id}/content": Row(
        purchase_after("confirm-payment", "deliver"), for_agents()
    ),
    "GET /wallet/deposit/{deposit_id}": Row(deposit, for_agents()),
    # Confirmed by an operator or the provider's signed callback, never by an agent.
    "POST /wallet/deposit/{deposit_id}/confirm": Row(deposit, for_operators()),
    "GET /creators/me/agents/{agent_id}/challenge": Row(
        claimed_agent, for_creators(other=200), owner_kind="creator"
    ),
    "POST /creators/me/agents/{agent_id}/claim": Row(
        claimed_agent, for_creators(other=409), owner_kind="creator"
    ),
    "GET /seller/webhooks/{webhook_id}": Row(seller_webhook, for_agents()),
    "DELETE /seller/webhooks/{webhook_id}": Row(seller_webhook, for_agents(owner=204)),
    "GET /seller/webhooks/{webhook_id}/deliveries": Row(seller_webhook, for_agents()),
    "POST /seller/webhooks/{webhook_id}/enable": Row(seller_webhook, for_agents()),
    "POST /seller/webhooks/{webhook_id}/rotate-secret": Row(seller_webhook, for_agents()),
    "POST /seller/webhooks/{webhook_id}/test": Row(seller_webhook, for_agents(owner=202)),
    "GET /integrations/openclaw/webhooks/{webhook_id}": Row(openclaw_webhook, for_agents()),
    "DELETE /integrations/openclaw/webhooks/{webhook_id}": Row(
        openclaw_webhook, for_agents(owner=204)
    ),
    "POST /integrations/openclaw/webhooks/{webhook_id}/test": Row(
        openclaw_webhook, for_agents(owner=202)
    ),
    "GET /integrations/openclaw/webhooks/{webhook_id}/deliveries": Row(
        openclaw_webhook, for_agents()
    ),
    "POST /integrations/openclaw/webhooks/{webhook_id}/enable": Row(openclaw_webhook, for_agents()),
    "GET /redemptions/{redemption_id}": Row(redemption, for_creators(), owner_kind="creator"),
    "POST /redemptions/{redemption_id}/cancel": Row(
        redemption, for_creators(), owner_kind="creator"
    ),
    "POST /redemptions/admin/{redemption_id}/approve": Row(
        redemption, for_operators(), owner_kind="creator"
    ),
    "POST /redemptions/admin/{redemption_id}/reject": Row(
        lambda cast: with_json(redemption(cast), {"reason": "no"}),
        for_operators(),
        owner_kind="creator",
    ),
}


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
