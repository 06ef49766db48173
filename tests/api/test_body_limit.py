"""MAX_BODY_BYTES over real HTTP (uvicorn on a free port): a body above it is a 413 problem
before any route reads it, whether its size is declared (Content-Length) or not (chunked)."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.test_listings import listing
from tests.conftest import make_settings
from tests.local_server import LocalServer

JSON = {"content-type": "application/json"}
LIMIT = 1_600_000  # just above what a 1 MiB listing needs in base64 (1,398,104 bytes + JSON)


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Settings:
    return make_settings(postgres_url, tmp_path, max_body_bytes=LIMIT)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        LocalServer(app) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        yield client


async def _agents(client: httpx.AsyncClient) -> int:
    total: int = (await client.get("/api/v1/agents")).json()["total"]
    return total


def _padded(size: int) -> bytes:
    """A valid registration, padded with JSON whitespace to `size` bytes."""
    body = b'{"name": "padded-%s", "agent_type": "both"}' % uuid.uuid4().hex.encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def test_a_declared_size_above_the_limit_is_refused_unread(
    served: httpx.AsyncClient,
) -> None:
    before = await _agents(served)
    response = await served.post(
        "/api/v1/agents/register",
        content=_padded(LIMIT + 1),
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 413, "payload_too_large")
    assert body["request_id"] == response.headers["x-request-id"]
    assert await _agents(served) == before
    at_limit = await served.post(
        "/api/v1/agents/register",
        content=_padded(LIMIT),
        headers={"content-type": "application/json"},
    )
    assert at_limit.status_code == 201, at_limit.text


async def test_a_chunked_body_above_the_limit_is_refused(served: httpx.AsyncClient) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        payload = _padded(total)
        for start in range(0, total, 65_536):
            yield payload[start : start + 65_536]

    before = await _agents(served)
    response = await served.post(
        "/api/v1/agents/register",
        content=chunks(LIMIT + 1),
        headers={"content-type": "application/json"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "payload_too_large")
    assert await _agents(served) == before
    fits = await served.post(
        "/api/v1/agents/register",
        content=chunks(LIMIT),
        headers={"content-type": "application/json"},
    )
    assert fits.status_code == 201, fits.text


async def test_the_largest_listing_fits_in_base64(
    served: httpx.AsyncClient, settings: Settings
) -> None:
    seller = await register(served)
    content = "QUJD" * (settings.listing_max_content_bytes // 3)  # "ABC" repeated, in base64
    body = listing(content=None, content_base64=content, content_type="application/octet-stream")
    response = await served.post("/api/v1/listings", headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text


def test_a_limit_too_small_for_the_largest_listing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MAX_BODY_BYTES"):
        make_settings("sqlite+aiosqlite:///unused.db", tmp_path, max_body_bytes=1_048_576)
