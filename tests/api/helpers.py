"""Small helpers for driving the API the way an agent does."""

import uuid
from typing import Any

import httpx


def unique(prefix: str = "agent") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def register(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": unique(), "agent_type": "both", **fields}
    response = await api.post("/api/v1/agents/register", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    data["headers"] = {"Authorization": f"Bearer {data['jwt_token']}"}
    return data


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    if code:
        assert body["code"] == code, body
    return body
