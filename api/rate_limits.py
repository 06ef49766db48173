"""REST rate limits (ADR 0019): per token subject when the bearer token verifies, else per client
address; 429 problem+json with Retry-After; RateLimit-* headers on every limited response.

Pure ASGI; the request waits for one round trip to the store, and the window's state for the
headers is read while the route runs. The client address is the
socket peer, or what X-Forwarded-For says when the peer is one of TRUSTED_PROXIES (the
proxy-headers middleware in front of this one rewrites it).
"""

import contextlib
import ipaddress
import time
from functools import lru_cache

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from api.routes import API_PREFIX
from core.errors import AppError
from core.rate_limits import Limiter, Verdict
from core.security import InvalidToken, decode_token
from core.settings import Settings

# /mcp counts its calls with a limit of its own (api/mcp); /mcp/health is a health check.
EXEMPT = (f"{API_PREFIX}/health", "/docs", "/redoc", "/openapi.json", "/metrics", "/mcp")
EXEMPT_TREES = tuple(f"{path}/" for path in EXEMPT)
VERIFIED_TOKENS_CACHED = 4096
LONGEST_TOKEN_CACHED = 2048  # ours are ~300 characters; longer ones are not kept in memory


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


def headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    """The IETF draft's RateLimit-Limit, -Remaining and -Reset (seconds)."""
    return [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(verdict.remaining).encode()),
        (b"ratelimit-reset", str(verdict.reset_seconds).encode()),
    ]


def client_address(scope: Scope) -> str:
    """The client's address; an IPv6 client is its /64, which one subscriber usually holds
    whole (else each of its 2**64 addresses would get a limit of its own)."""
    client = scope.get("client")
    if not client:
        return "unknown"
    host = str(client[0])
    if ":" in host:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_network(f"{host}/64", strict=False))
    return host


def exempt(path: str) -> bool:
    return path in EXEMPT or path.startswith(EXEMPT_TREES)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: Limiter, settings: Settings) -> None:
        self.app = app
        self.limiter = limiter
        self.authenticated = f"{settings.rest_rate_limit_authenticated}/minute"
        self.anonymous = f"{settings.rest_rate_limit_anonymous}/minute"

        @lru_cache(maxsize=VERIFIED_TOKENS_CACHED)
        def subject(token: str) -> tuple[str, float] | None:
            """`kind:sub` of a token that verifies, and when it expires (cached: ~70 µs each)."""
            try:
                kind, claims = decode_token(
                    token, secret=settings.jwt_secret_key, algorithm=settings.jwt_algorithm
                )
            except InvalidToken:
                return None
            return f"{kind.value}:{claims['sub']}", float(claims["exp"])

        self._subject = subject

    def _caller(self, scope: Scope) -> tuple[str, str, str]:
        """The key, rate and limit name of this request's caller."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip()
                if (
                    scheme.lower() == "bearer"
                    and len(token) <= LONGEST_TOKEN_CACHED
                    and (found := self._subject(token))
                ):
                    key, expires = found
                    if expires > time.time():
                        return key, self.authenticated, "authenticated"
                break
        return f"client:{client_address(scope)}", self.anonymous, "anonymous"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        key, rate, name = self._caller(scope)
        allowed, window = await self.limiter.acquire(key, rate, name=name)
        if not allowed:
            verdict = await window
            retry_after = max(1, verdict.reset_seconds)
            response = problem(
                429,
                "rate_limited",
                f"More than {verdict.limit} requests a minute; retry in {retry_after} s",
                retry_after=retry_after,
            )
            response.raw_headers += headers(verdict)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":  # the window was read meanwhile
                message["headers"] = [*message.get("headers", ()), *headers(await window)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def count_registration(request: Request, limiter: Limiter, per_hour: int) -> None:
    """One registration from this client address; 429 past REGISTRATIONS_PER_CLIENT_PER_HOUR."""
    key = f"register:{client_address(request.scope)}"
    verdict = await limiter.hit(key, f"{per_hour}/hour", name="registration")
    if not verdict.allowed:
        retry_after = max(1, verdict.reset_seconds)
        raise RateLimited(
            f"At most {per_hour} registrations an hour from one client; retry in {retry_after} s",
            retry_after=retry_after,
        )
