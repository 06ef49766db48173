"""The Model Context Protocol server at `/mcp` (official `mcp` SDK, Streamable HTTP, stateless:
ADR 0027), mounted in the FastAPI app; `GET /mcp/health` describes it.

Every HTTP request to `/mcp` is authenticated on its own with the REST rules for agent routes
(api/deps.py). In the shared limiter (ADR 0019), each tool call and resource read counts
against the agent's MCP limit, any other message against its REST budget. Refusals at this
edge are JSON-RPC errors (what an MCP client reads) at the REST status, with the REST problem
as their `data`.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import LATEST_PROTOCOL_VERSION
from pydantic import BaseModel
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from api.deps import authenticate_agent
from api.errors import error_problem
from api.mcp import catalog, demand, resources, tools
from api.mcp.calls import AGENT, strict_arguments
from api.rate_limits import RateLimited, client_address, headers
from api.state import AppState
from core.errors import AppError
from core.settings import Settings

PATH = "/mcp"
CALLS = frozenset({"tools/call", "resources/read"})
"""What MCP_RATE_LIMIT_PER_MINUTE counts: the calls that do the work."""
REFUSED = -32001  # in JSON-RPC's server-defined range; the HTTP status and `data` say why


def build_server(app: FastAPI, settings: Settings) -> MCPServer:
    server: MCPServer = MCPServer(
        "agentchains",
        title="AgentChains marketplace",
        version="1.0.0",
        instructions=(
            "A marketplace of cached computation results. Discover listings, check their "
            "quality proofs, buy with ARD credits in one call, sell your own results."
        ),
        log_level=settings.log_level.upper(),  # type: ignore[arg-type]
    )
    tools.register(server)
    resources.register(server, app)
    demand.register(server, app)
    catalog.register(server, app)
    server.middleware.append(strict_arguments(server))
    return server


class Endpoint:
    """`/mcp`: authenticate, count, then hand the request to the SDK's session manager."""

    def __init__(self, manager: StreamableHTTPSessionManager, settings: Settings) -> None:
        self.manager = manager
        self.calls = f"{settings.mcp_rate_limit_per_minute}/minute"
        self.messages = f"{settings.rest_rate_limit_authenticated}/minute"
        self.anonymous = f"{settings.rest_rate_limit_anonymous}/minute"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState = scope["app"].state.services
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        try:
            agent = await authenticate_agent(state, authorization)
        except AppError as error:
            key = f"client:{client_address(scope)}"
            if await self._within(state, key, self.anonymous, "anonymous", scope, receive, send):
                await _refuse(error, scope, receive, send)
            return
        if scope["method"] == "POST":
            body, receive = await _read_body(receive)
            if _method(body) in CALLS:
                key, rate, name = f"mcp:agent:{agent}", self.calls, "mcp"
            else:  # the handshake, lists, pings: the agent's REST budget (same key)
                key, rate, name = f"agent:{agent}", self.messages, "authenticated"
            if not await self._within(state, key, rate, name, scope, receive, send):
                return
        await self.manager.handle_request({**scope, AGENT: agent}, receive, send)

    async def _within(
        self,
        state: AppState,
        key: str,
        rate: str,
        name: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> bool:
        """Count one message against `key`; past the limit, answer 429 and say so."""
        verdict = await state.limiter.hit(key, rate, name=name)
        if verdict.allowed:
            return True
        retry = max(1, verdict.reset_seconds)
        calls = "MCP calls" if name == "mcp" else "requests"
        refusal = RateLimited(
            f"More than {verdict.limit} {calls} a minute; retry in {retry} s", retry_after=retry
        )
        await _refuse(refusal, scope, receive, send, headers(verdict))
        return False


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The request's body (bounded by the body-limit middleware) and a `receive` that hands
    it on unchanged."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", receive
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body, replayed = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _method(body: bytes) -> str | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None  # not JSON: the SDK answers the parse error
    method = message.get("method") if isinstance(message, dict) else None
    return method if isinstance(method, str) else None


async def _refuse(
    error: AppError,
    scope: Scope,
    receive: Receive,
    send: Send,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """The REST problem, as the `data` of a JSON-RPC error an MCP client reads, at the
    REST status and with its headers (Retry-After; WWW-Authenticate on a 401)."""
    rest = error_problem(error, PATH)
    body: dict[str, Any] = json.loads(bytes(rest.body))
    answer = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": REFUSED, "message": body["detail"], "data": body},
    }
    response = JSONResponse(answer, rest.status_code)
    response.raw_headers += [
        (k, v) for k, v in rest.raw_headers if k not in (b"content-length", b"content-type")
    ]
    response.raw_headers += extra_headers
    if rest.status_code == 401:
        response.raw_headers.append((b"www-authenticate", b'Bearer realm="agentchains"'))
    await response(scope, receive, send)


class Health(BaseModel):
    status: str
    protocol_version: str
    server: str
    transport: str
    stateless: bool
    tools: int
    resources: int
    resource_templates: int


def install(app: FastAPI, settings: Settings) -> Any:
    """Mount `/mcp` and `/mcp/health`; answers what the lifespan runs (the session manager)."""
    server = build_server(app, settings)

    def session_manager() -> StreamableHTTPSessionManager:
        """A new one for each run of the lifespan (the SDK's runs once). Stateless: any API
        process answers any request (ADR 0027). Bearer tokens, not cookies, authenticate each
        request, so the SDK's Host/Origin check for browsers is not needed."""
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        return server.session_manager

    endpoint = Endpoint(session_manager(), settings)
    # POST only: with no session there is nothing to stream to (GET) or end (DELETE); the
    # specification lets a server answer those 405.
    app.router.routes.append(Route(PATH, endpoint, methods=["POST"]))

    # Outside the /api/v1 contract, like /metrics: not in the OpenAPI document.
    @app.get(f"{PATH}/health", response_model=Health, include_in_schema=False)
    async def mcp_health() -> Health:
        return Health(
            status="ok",
            protocol_version=LATEST_PROTOCOL_VERSION,
            server=server.name,
            transport="streamable-http",
            stateless=endpoint.manager.stateless,
            tools=len(await server.list_tools()),
            resources=len(await server.list_resources()),
            resource_templates=len(await server.list_resource_templates()),
        )

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        """The session manager's task group, entered and left in a task of its own (a lifespan
        may be entered in one task and left in another, which anyio refuses)."""
        started, stopping = asyncio.Event(), asyncio.Event()
        endpoint.manager = session_manager()

        async def run() -> None:
            async with endpoint.manager.run():
                started.set()
                await stopping.wait()

        task = asyncio.create_task(run())
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # it failed to start: say why
            waiting.cancel()
            await task
        try:
            yield
        finally:
            stopping.set()
            await task

    return running
