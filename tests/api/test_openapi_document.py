"""The served OpenAPI document declares, for every operation, the problem+json refusals it can
answer: 422 with parameters or a body, 413 with a body, 401/403 behind a token, 404 with an
id in the path, 500 everywhere; all against one Problem schema."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from api import openapi
from api.app import create_app
from tests.conftest import make_settings

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_every_refusal_is_a_declared_problem(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        declared = {int(status) for status in responses if int(status) >= 400}
        expected = {500}
        if operation.get("parameters") or "requestBody" in operation:
            expected.add(422)
        if "requestBody" in operation:
            expected.add(413)
        if "{" in path:
            expected.add(404)
        if operation.get("security") == [{"HTTPBearer": []}]:  # a token is required
            expected |= {401, 403}
        assert expected <= declared, f"{method} {path} lacks {sorted(expected - declared)}"
        for status in declared:
            content = responses[str(status)]["content"]
            assert content == {"application/problem+json": {"schema": PROBLEM}}, (method, path)
        if "201" in responses:
            assert "Location" in responses["201"]["headers"], (method, path)


async def test_optional_tokens_are_declared_optional(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/discover", "/api/v1/agents/register", "/api/v1/creators/register"):
        operation = next(iter(paths[path].values()))
        assert operation["security"] == [{"HTTPBearer": []}, {}], path
    assert "security" not in paths["/api/v1/listings"]["get"]
    assert paths["/api/v1/wallet/transfer"]["post"]["security"] == [{"HTTPBearer": []}]


def test_refusals_of_a_route_that_does_not_exist_stop_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(openapi.ROUTE_REFUSALS, "POST /no/such/route", {409})
    app = create_app(make_settings("sqlite+aiosqlite:///unused.db", tmp_path))
    with pytest.raises(RuntimeError, match="/no/such/route"):
        app.openapi()
