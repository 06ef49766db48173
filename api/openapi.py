"""The OpenAPI document, completed from the route table: every refusal a route can answer is
declared as an application/problem+json response, so clients (and the fuzzing test) can rely
on the document.

What a route refuses comes from three places: its parameters (422; 404 for an id in the path;
413 for a body), the dependencies it uses (tagged with `deps.refuses`), and the table below for
the business refusals of its domain. A row for a route that does not exist stops the app.
"""

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict

from api.rate_limits import exempt
from api.schemas.common import NO_NUL

PROBLEM_TYPE = "application/problem+json"

# Business refusals by route ("METHOD path" below the /api/v1 prefix).
ROUTE_REFUSALS: dict[str, set[int]] = {
    "POST /agents/register": {409},
    "POST /wallet/transfer": {402, 404},
    "POST /wallet/deposit": {503},
    "POST /wallet/deposit/{deposit_id}/confirm": {409, 503},
    "PUT /listings/{listing_id}": {409},
    "DELETE /listings/{listing_id}": {409},
    "GET /discover": {404},
    "POST /transactions/initiate": {404, 409, 503},
    "POST /transactions/{tx_id}/confirm-payment": {402, 409, 503},
    "POST /transactions/{tx_id}/deliver": {409, 503},
    "POST /transactions/{tx_id}/verify": {409, 503},
    "POST /verify": {404},
    "GET /transactions/{tx_id}/content": {409, 503},
    "POST /express/{listing_id}": {402, 409, 503},
    "POST /creators/register": {409},
    "POST /creators/login": {401, 429},
    "POST /creators/me/agents/{agent_id}/claim": {409},
    "POST /redemptions": {402, 503},
    "POST /redemptions/{redemption_id}/cancel": {409, 503},
    "POST /redemptions/admin/{redemption_id}/approve": {409, 503},
    "POST /redemptions/admin/{redemption_id}/reject": {409, 503},
    "GET /catalog/agent/{agent_id}": {404},
    "PATCH /catalog/{entry_id}": {409},
    "DELETE /catalog/{entry_id}": {409},
    "POST /agents/auto-match": {402, 404, 409, 503},
}


class Problem(BaseModel):
    """RFC 9457 problem details with a stable `code` and the request's correlation id."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def install(app: FastAPI, prefix: str) -> None:
    """Serve the completed document at /openapi.json (built once, on first request: walking
    every route's dependencies up front would cost each process start a tenth of a second)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            routes = route_table(app, prefix)
            if stale := set(ROUTE_REFUSALS) - set(routes):
                raise RuntimeError(f"refusals documented for routes that do not exist: {stale}")
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            _complete(document, routes, prefix)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def route_table(app: FastAPI, prefix: str) -> dict[str, RouteContext]:
    """Every API operation by "METHOD path" (path below `prefix`)."""
    return {
        f"{method} {(route.path_format or '').removeprefix(prefix)}": route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and route.original_route.include_in_schema
        for method in route.methods or ()
    }


def _dependencies(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependencies(sub)


def _all_params(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _all_params(sub)


def _refusals(route: RouteContext, key: str) -> tuple[set[int], str | None]:
    """The problem statuses a route answers, and whether it needs a token."""
    statuses = {500} | ROUTE_REFUSALS.get(key, set())
    if not exempt(route.path_format or ""):
        statuses.add(429)  # api/rate_limits.py
    tokens = set()
    for call in _dependencies(route.dependant):
        statuses |= set(getattr(call, "refusals", ()))
        tokens.add(getattr(call, "token", None))
    if route.dependant.path_params:
        statuses.add(404)
    if any(_all_params(route.dependant)):
        statuses.add(422)
    if route.body_field is not None:
        statuses.add(413)
    token = "required" if "required" in tokens else "optional" if "optional" in tokens else None
    return statuses, token


def _complete(document: dict[str, Any], routes: dict[str, RouteContext], prefix: str) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for key, route in routes.items():
        method, path = key.split(" ", 1)
        operation = document["paths"][prefix + path][method.lower()]
        statuses, token = _refusals(route, key)
        responses = operation["responses"]
        for status in sorted(statuses):
            responses[str(status)] = {
                "description": HTTPStatus(status).phrase,
                "content": {PROBLEM_TYPE: problem},
            }
        if "201" in responses:
            responses["201"]["headers"] = {
                "Location": {"description": "The created resource", "schema": {"type": "string"}}
            }
        if token is None:
            operation.pop("security", None)
        elif token == "optional":
            operation["security"] = [*operation.get("security", []), {}]
        for parameter in operation.get("parameters", []):
            _refuse_nul(parameter.get("schema", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _keys_as_property_names(document)


def _refuse_nul(schema: dict[str, Any]) -> None:
    """Parameters are never NUL-bearing (api/limits.py refuses such query strings)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string" and "pattern" not in branch and "enum" not in branch:
            branch["pattern"] = NO_NUL


def _keys_as_property_names(node: Any) -> None:
    """pydantic documents constrained dict keys as `patternProperties`, which lets any other key
    through; the keys' pattern belongs in `propertyNames` with the values' schema for all."""
    if isinstance(node, dict):
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            [(pattern, values)] = patterns.items()
            del node["patternProperties"]
            node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
            node["additionalProperties"] = values
        for value in node.values():
            _keys_as_property_names(value)
    elif isinstance(node, list):
        for value in node:
            _keys_as_property_names(value)
