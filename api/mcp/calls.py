"""What every MCP tool and resource needs: the app's state, the caller taken from this very
HTTP request, and refusals turned into the same problem the REST route would answer."""

import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from fastapi import Request
from mcp.server.context import CallNext, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from api.errors import error_problem, problem
from api.state import AppState
from core.errors import AppError

AGENT = "agentchains.mcp.agent"
"""The scope key the endpoint stores the authenticated agent under, once per HTTP request."""

RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for an unknown resource

P = ParamSpec("P")
T = TypeVar("T")


def request_of(ctx: Context) -> Request:
    request = ctx.request_context.request
    if not isinstance(request, Request):  # only the HTTP endpoint serves these tools
        raise RuntimeError("an MCP call outside an HTTP request")
    return request


def state_of(ctx: Context) -> AppState:
    state: AppState = request_of(ctx).app.state.services
    return state


def agent_of(ctx: Context) -> uuid.UUID:
    """The agent whose token this request carried (checked by the endpoint for this request)."""
    agent: uuid.UUID = request_of(ctx).scope[AGENT]
    return agent


def _body(error: AppError | ValidationError, path: str) -> dict[str, Any]:
    if isinstance(error, ValidationError):
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        response = problem(422, "validation_error", "The request is not valid", errors=errors)
    else:
        response = error_problem(error, path)
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


def _unknown(names: list[str]) -> dict[str, Any]:
    errors = [
        {"loc": [name], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
        for name in names
    ]
    response = problem(422, "validation_error", "The request is not valid", errors=errors)
    body: dict[str, Any] = json.loads(bytes(response.body))
    return body


def strict_arguments(server: MCPServer) -> ServerMiddleware[Any]:
    """Unknown tool arguments are refused, as REST bodies refuse unknown fields (the SDK would
    drop them silently, so a misspelt filter would widen a search without a word)."""
    known: dict[str, set[str]] = {}

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method == "tools/call" and isinstance(ctx.params, Mapping):
            if not known:
                for listed in await server.list_tools():
                    known[listed.name] = set(listed.input_schema.get("properties", {}))
            name, arguments = ctx.params.get("name"), ctx.params.get("arguments")
            unknown = (
                sorted(set(arguments) - known[name])
                if name in known and isinstance(arguments, Mapping)
                else []
            )
            if unknown:
                body = _unknown(unknown)
                return CallToolResult(
                    content=[TextContent(type="text", text=json.dumps(body))],
                    structured_content=body,
                    is_error=True,
                )
        return await call_next(ctx)

    return middleware


def refusal(error: AppError | ValidationError, tool: str) -> CallToolResult:
    """A tool error carrying the REST problem (`code`, `status`, `detail`) as its structured
    content, and the same JSON as text for clients that read only text."""
    body = _body(error, f"mcp:{tool}")
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body))],
        structured_content=body,
        is_error=True,
    )


def tool(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A tool whose business refusals (`AppError`) and invalid requests (the REST request
    model's `ValidationError`) come back as tool errors, never as a crash."""

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (AppError, ValidationError) as error:
            return refusal(error, fn.__name__)  # type: ignore[return-value]

    return call


def resource(fn: Callable[P, Awaitable[str]]) -> Callable[P, Awaitable[str]]:
    """A resource whose refusals are JSON-RPC errors carrying the REST problem as `data`
    (an unknown id: the specification's resource-not-found code)."""

    @functools.wraps(fn)
    async def read(*args: P.args, **kwargs: P.kwargs) -> str:
        try:
            return await fn(*args, **kwargs)
        except AppError as error:
            body = _body(error, f"mcp:{fn.__name__}")
            code = RESOURCE_NOT_FOUND if error.status == 404 else -32603
            raise MCPError(code=code, message=body["detail"], data=body) from None

    return read
