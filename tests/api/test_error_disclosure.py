"""Internal error text never leaves the server: clients get a stable `code` and the request's
id; the cause is logged under that id. Driven through the real app's middleware and handlers
(the routes that fail are added for the test)."""

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from core.errors import InvalidState, Unavailable
from core.settings import Settings
from tests.api.helpers import assert_problem
from tests.conftest import make_settings

SECRET = 'duplicate key value violates unique constraint "pk_ledger_secret" at 10.1.2.3:5432'


def _failing_routes(app: FastAPI) -> None:
    async def database_error() -> None:
        raise IntegrityError("INSERT INTO ledger_secret VALUES (...)", {}, Exception(SECRET))

    async def relayed_exception() -> None:
        # What a workflow's failed step looks like when its error type is an exception's name.
        raise InvalidState(SECRET, code="IntegrityError")

    async def dependency_down() -> None:
        raise Unavailable(f"could not reach the provider: {SECRET}")

    for path, endpoint in (
        ("/boom/database", database_error),
        ("/boom/relayed", relayed_exception),
        ("/boom/dependency", dependency_down),
    ):
        app.add_api_route(path, endpoint, methods=["GET"])


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    _failing_routes(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/boom/database", 500, "internal_error"),
        ("/boom/relayed", 500, "internal_error"),
        ("/boom/dependency", 503, "unavailable"),
    ],
)
async def test_internal_text_stays_in_the_log(
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    status: int,
    code: str,
) -> None:
    with caplog.at_level(logging.INFO):
        response = await client.get(path, headers={"X-Request-ID": f"trace{status}"})
    body = assert_problem(response, status, code)
    assert body["request_id"] == response.headers["x-request-id"] == f"trace{status}"
    for leak in ("pk_ledger_secret", "10.1.2.3", "INSERT", "IntegrityError"):
        assert leak not in response.text
    logged = [r for r in caplog.records if "pk_ledger_secret" in r.getMessage() + str(r.exc_text)]
    assert logged, "the cause is logged"


async def test_health_names_a_failure_without_its_text(tmp_path: Path) -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    app = create_app(make_settings(unreachable, tmp_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        health = await c.get("/api/v1/health")
    database = health.json()["dependencies"]["database"]
    assert database == {"status": "down", "error": "OperationalError"}
    assert "127.0.0.1" not in health.text and "nowhere" not in health.text
