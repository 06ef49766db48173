"""Small helpers for driving the API the way an agent does."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


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


async def once(
    read: Callable[[], Awaitable[T]], ready: Callable[[T], bool], within: float = 30.0
) -> T:
    """What `read` answers once `ready` holds for it: for what follows a change a moment later
    (reputation and trade counters, folded in by the tally, ADR 0038)."""
    deadline = time.monotonic() + within
    while not ready(answer := await read()):
        assert time.monotonic() < deadline, f"still not ready: {answer!r}"
        await asyncio.sleep(0.05)
    return answer


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    await once(check, bool, within)


def json_of(
    api: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> Callable[[], Awaitable[Any]]:
    """A reader of what `GET path` answers, for `once`."""

    async def read() -> Any:
        return (await api.get(path, headers=headers)).json()

    return read
