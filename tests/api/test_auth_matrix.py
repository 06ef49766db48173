"""Each kind of token on each kind of route: 401 without a valid token, 403 for the wrong kind."""

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from core.security import TokenKind
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.test_creators import register_creator
from tests.conftest import bearer, token
from worker.cli import create_operator

Call = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


async def _tokens(api: httpx.AsyncClient, settings: Settings) -> tuple[dict[str, str], str]:
    agent = await register(api)
    operator = await create_operator(settings, f"op-{uuid.uuid4().hex[:8]}")
    creator = (await register_creator(api))["token"]
    return {"agent": agent["jwt_token"], "operator": operator, "creator": creator}, agent["id"]


@pytest.mark.parametrize("caller", ["agent", "creator", "operator"])
async def test_token_kind_matrix(api: httpx.AsyncClient, settings: Settings, caller: str) -> None:
    tokens, agent_id = await _tokens(api, settings)
    headers = bearer(tokens[caller])
    routes: dict[str, list[Call]] = {
        "agent": [
            lambda c, h: c.post(f"/api/v1/agents/{agent_id}/heartbeat", headers=h),
            lambda c, h: c.put(f"/api/v1/agents/{agent_id}", headers=h, json={"description": "d"}),
        ],
        "operator": [lambda c, h: c.get("/api/v1/operators/me", headers=h)],
    }
    for kind, calls in routes.items():
        for call in calls:
            response = await call(api, headers)
            if kind == caller:
                assert response.status_code == 200, response.text
            else:
                assert_problem(response, 403, "wrong_token_kind")
            assert_problem(await call(api, {}), 401, "unauthorized")
            assert_problem(await call(api, bearer("garbage")), 401, "invalid_token")


async def test_expired_and_unknown_subjects_are_401(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    tokens, agent_id = await _tokens(api, settings)
    expired = token(TokenKind.AGENT, agent_id, expire_hours=-1)
    assert_problem(
        await api.post(f"/api/v1/agents/{agent_id}/heartbeat", headers=bearer(expired)), 401
    )
    ghost_operator = token(TokenKind.OPERATOR, uuid.uuid4())
    assert_problem(await api.get("/api/v1/operators/me", headers=bearer(ghost_operator)), 401)
    ghost_creator = token(TokenKind.CREATOR, uuid.uuid4())
    assert_problem(await api.get("/api/v1/redemptions", headers=bearer(ghost_creator)), 401)
    me = await api.get("/api/v1/operators/me", headers=bearer(tokens["operator"]))
    assert me.json()["active"] is True
