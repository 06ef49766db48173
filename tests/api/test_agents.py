import asyncio
import json
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.security import TokenKind
from core.settings import Settings
from models.idempotency import IdempotencyKey
from tests.api.helpers import assert_problem, register, unique
from tests.conftest import bearer, token

AGENTS = "/api/v1/agents"


async def test_register_answers_a_working_token_and_card_url(api: httpx.AsyncClient) -> None:
    agent = await register(
        api,
        description="searches the web",
        capabilities=["web_search"],
        a2a_endpoint="https://agent.example/a2a",
        public_key="ssh-ed25519 AAAA",
    )
    assert uuid.UUID(agent["id"])
    assert agent["agent_card_url"].endswith(f"/api/v1/agents/{agent['id']}/card")

    fetched = await api.get(f"{AGENTS}/{agent['id']}")
    assert fetched.status_code == 200
    body = fetched.json()
    assert body["name"] == agent["name"]
    assert body["status"] == "active"
    assert "jwt_token" not in body

    card = (await api.get(f"{AGENTS}/{agent['id']}/card")).json()
    assert card["url"] == "https://agent.example/a2a"
    assert card["skills"][0]["id"] == "web_search"

    beat = await api.post(f"{AGENTS}/{agent['id']}/heartbeat", headers=agent["headers"])
    assert beat.status_code == 200
    assert beat.json()["status"] == "ok"
    assert (await api.get(f"{AGENTS}/{agent['id']}")).json()["last_seen_at"] is not None


async def test_duplicate_name_is_409(api: httpx.AsyncClient) -> None:
    agent = await register(api)
    again = await api.post(
        f"{AGENTS}/register", json={"name": agent["name"], "agent_type": "buyer"}
    )
    assert_problem(again, 409, "agent_name_taken")


async def test_concurrent_registrations_of_one_name_create_one_agent(
    api: httpx.AsyncClient,
) -> None:
    name = unique()
    responses = await asyncio.gather(
        *(
            api.post(f"{AGENTS}/register", json={"name": name, "agent_type": "seller"})
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    listed = (await api.get(AGENTS, params={"page_size": 100})).json()
    assert sum(a["name"] == name for a in listed["agents"]) == 1


async def test_list_filters_and_paginates(api: httpx.AsyncClient) -> None:
    for _ in range(3):
        await register(api, agent_type="seller")
    page = await api.get(AGENTS, params={"agent_type": "seller", "page": 1, "page_size": 2})
    body = page.json()
    assert page.status_code == 200
    assert body["page"] == 1 and body["page_size"] == 2 and len(body["agents"]) == 2
    assert body["total"] >= 3
    assert all(a["agent_type"] == "seller" for a in body["agents"])
    second = await api.get(AGENTS, params={"agent_type": "seller", "page": 2, "page_size": 2})
    assert {a["id"] for a in second.json()["agents"]}.isdisjoint(a["id"] for a in body["agents"])
    assert_problem(await api.get(AGENTS, params={"page_size": 101}), 422, "validation_error")
    assert_problem(await api.get(AGENTS, params={"page": 0}), 422, "validation_error")
    assert_problem(await api.get(AGENTS, params={"agent_type": "robot"}), 422)


async def test_update_changes_only_the_callers_own_profile(api: httpx.AsyncClient) -> None:
    me, other = await register(api), await register(api)
    changed = await api.put(
        f"{AGENTS}/{me['id']}",
        headers=me["headers"],
        json={"description": "new", "capabilities": ["code_analysis"]},
    )
    assert changed.status_code == 200
    assert changed.json()["description"] == "new"
    assert changed.json()["capabilities"] == ["code_analysis"]

    assert_problem(
        await api.put(f"{AGENTS}/{other['id']}", headers=me["headers"], json={"description": "x"}),
        403,
        "not_owner",
    )
    assert_problem(await api.delete(f"{AGENTS}/{other['id']}", headers=me["headers"]), 403)
    assert_problem(await api.post(f"{AGENTS}/{other['id']}/heartbeat", headers=me["headers"]), 403)


async def test_status_is_not_client_settable(api: httpx.AsyncClient) -> None:
    me = await register(api)
    response = await api.put(f"{AGENTS}/{me['id']}", headers=me["headers"], json={"status": "x"})
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"][-1] == "status"


async def test_deactivation_revokes_the_token_at_once(api: httpx.AsyncClient) -> None:
    me = await register(api)
    gone = await api.delete(f"{AGENTS}/{me['id']}", headers=me["headers"])
    assert gone.status_code == 200 and gone.json()["status"] == "inactive"
    assert_problem(await api.post(f"{AGENTS}/{me['id']}/heartbeat", headers=me["headers"]), 401)
    assert_problem(
        await api.put(f"{AGENTS}/{me['id']}", headers=me["headers"], json={"description": "x"}),
        401,
        "invalid_token",
    )
    inactive = (await api.get(AGENTS, params={"status": "inactive", "page_size": 100})).json()
    assert me["id"] in {a["id"] for a in inactive["agents"]}


@pytest.mark.parametrize("agent_id", ["nope", "00000000-0000-0000-0000-000000000000", "1' OR 1=1"])
async def test_unknown_or_malformed_ids_are_404(api: httpx.AsyncClient, agent_id: str) -> None:
    assert_problem(await api.get(f"{AGENTS}/{agent_id}"), 404, "agent_not_found")
    assert_problem(await api.get(f"{AGENTS}/{agent_id}/card"), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"agent_type": "seller"},
        {"name": "", "agent_type": "seller"},
        {"name": "x" * 101, "agent_type": "seller"},
        {"name": "ok", "agent_type": "robot"},
        {"name": 12, "agent_type": "seller"},
        {"name": "ok", "agent_type": "seller", "capabilities": "web_search"},
        {"name": "ok", "agent_type": "seller", "capabilities": ["x" * 65]},
        {"name": "ok", "agent_type": "seller", "capabilities": ["c"] * 51},
        {"name": "ok", "agent_type": "seller", "description": "d" * 2001},
        {"name": "ok", "agent_type": "seller", "a2a_endpoint": "javascript:alert(1)"},
        {"name": "ok", "agent_type": "seller", "status": "active"},
        {"name": "ok", "agent_type": "seller", "is_admin": True},
        {"name": "bad\x00name", "agent_type": "seller"},
        [],
        "a string",
    ],
)
async def test_bad_registrations_are_422_and_write_nothing(
    api: httpx.AsyncClient, body: object
) -> None:
    before = (await api.get(AGENTS)).json()["total"]
    assert_problem(await api.post(f"{AGENTS}/register", json=body), 422, "validation_error")
    assert (await api.get(AGENTS)).json()["total"] == before


async def test_malformed_json_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        f"{AGENTS}/register", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")


async def test_unknown_route_and_method_are_problems(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/api/v1/nothing-here"), 404, "not_found")
    assert_problem(await api.patch(f"{AGENTS}/register"), 405, "method_not_allowed")


async def test_idempotent_registration_replays_and_refuses_reuse(api: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": unique(), "agent_type": "buyer"}
    responses = await asyncio.gather(
        *(api.post(f"{AGENTS}/register", json=body, headers=key) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.json()["jwt_token"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19

    other = await api.post(f"{AGENTS}/register", json={**body, "agent_type": "seller"}, headers=key)
    assert_problem(other, 422, "idempotency_key_reused")
    too_long = await api.post(
        f"{AGENTS}/register", json=body, headers={"Idempotency-Key": "k" * 256}
    )
    assert_problem(too_long, 422)


async def test_an_anonymous_key_is_a_secret_and_the_token_is_never_stored(
    api: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = {"name": unique(), "agent_type": "buyer"}
    weak = await api.post(f"{AGENTS}/register", json=body, headers={"Idempotency-Key": "reg-1"})
    assert_problem(weak, 422, "weak_idempotency_key")
    key = str(uuid.uuid4())
    made = await api.post(f"{AGENTS}/register", json=body, headers={"Idempotency-Key": key})
    assert made.status_code == 201, made.text
    async with sessions() as session:
        stored = [
            (row.key, json.dumps(row.response_body))
            for row in await session.scalars(
                select(IdempotencyKey).where(IdempotencyKey.scope == "anonymous")
            )
        ]
    token_text = made.json()["jwt_token"]
    assert stored and all(key not in k and token_text not in b for k, b in stored)
    again = await api.post(f"{AGENTS}/register", json=body, headers={"Idempotency-Key": key})
    assert again.json()["jwt_token"] == token_text  # the key's holder gets its answer back


async def test_request_id_is_echoed(api: httpx.AsyncClient) -> None:
    response = await api.get(AGENTS, headers={"X-Request-ID": "trace-123"})
    assert response.headers["x-request-id"] == "trace-123"
    generated = await api.get(AGENTS, headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_token_signed_with_another_secret_is_401(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    me = await register(api)
    forged = token(TokenKind.AGENT, me["id"], secret="someone-elses-secret-" + "y" * 20)
    response = await api.post(f"{AGENTS}/{me['id']}/heartbeat", headers=bearer(forged))
    assert_problem(response, 401, "invalid_token")
