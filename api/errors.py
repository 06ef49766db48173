"""Every error leaves as RFC 9457 application/problem+json with a stable `code` and the
request's id (`request_id`, also the X-Request-ID header).

Internal error text never leaves the server: a 5xx answers its generic title, and the cause is
logged under the same request id.
"""

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import AppError
from core.logging import request_id_var

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
_STABLE_CODE = re.compile(r"[a-z][a-z0-9_]*")


def problem(
    status: int, code: str, detail: str, *, title: str | None = None, **extra: Any
) -> JSONResponse:
    headers = dict(extra.pop("headers", None) or {})
    if (retry := extra.pop("retry_after", None)) is not None:
        headers["Retry-After"] = str(retry)
    body = {
        "type": f"https://agentchains.dev/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id_var.get(),
        **extra,
    }
    return JSONResponse(jsonable_encoder(body), status, headers=headers, media_type=PROBLEM)


def _internal() -> JSONResponse:
    return problem(500, "internal_error", "Something went wrong on our side")


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_problem(exc, request.url.path)


def error_problem(exc: AppError, path: str) -> JSONResponse:
    """The problem an `AppError` is answered with (routes, and the MCP tools' refusals)."""
    if not _STABLE_CODE.fullmatch(exc.code):
        # Not one of ours: an exception's class name (and its text) relayed from elsewhere.
        log.error("internal error as %s: %s", exc.code, exc.detail, extra={"path": path})
        return _internal()
    detail = exc.detail
    if exc.status >= 500:
        log.warning("%s: %s", exc.code, exc.detail, extra={"path": path})
        detail = exc.title
    return problem(exc.status, exc.code, detail, title=exc.title, **exc.extra)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return problem(422, "validation_error", "The request is not valid", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, not JSON, ...)
        return problem(422, "malformed_body", "The request body cannot be read as JSON")
    code = _CODES.get(exc.status_code, "http_error")
    response = problem(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # routing names the methods of one route; list the path's
        response.headers["Allow"] = ", ".join(_methods_of(request))
    return response


def _methods_of(request: Request) -> list[str]:
    """The methods of the routes matching this path; a literal path (`/agents/register`)
    outranks a template that also matches it (`/agents/{agent_id}`)."""
    path = request.scope["path"]
    matching = [r for r in iter_route_contexts(request.app.routes) if r.path_regex.match(path)]
    literal = [r for r in matching if r.path_format == path]
    return sorted({m for r in literal or matching for m in r.methods or ()})


class InternalErrors:
    """Anything unexpected becomes a 500 problem here, inside the request-id middleware, so the
    answer and the logged traceback carry the same request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path")})
            if started or scope["type"] != "http":
                raise
            await _internal()(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(InternalErrors)
