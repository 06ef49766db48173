"""REST rate limits over HTTP: the contract's numbers, keys, headers, exemptions, the client
address behind a proxy, a Redis that goes away, and one limit across two API processes."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

import core.rate_limits
from core.security import TokenKind
from core.settings import Settings
from tests.api.helpers import assert_problem, register, unique
from tests.api_processes import ApiProcesses, free_port
from tests.conftest import REDIS_URL, StartApiProcesses, bearer, make_settings, serve, token

AGENTS = "/api/v1/agents"
DEFAULTS = Settings.model_fields


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def test_an_anonymous_client_gets_the_contracts_30_a_minute(
    database_url: str, tmp_path: Path
) -> None:
    per_minute = DEFAULTS["rest_rate_limit_anonymous"].default
    assert per_minute == 30
    settings = make_settings(database_url, tmp_path, rest_rate_limit_anonymous=per_minute)
    async with serve(settings) as api:
        answers = [await api.get(AGENTS) for _ in range(per_minute + 1)]
    assert _statuses(answers) == [200] * per_minute + [429]
    remaining = [int(r.headers["RateLimit-Remaining"]) for r in answers]
    assert remaining == [*range(per_minute - 1, -1, -1), 0]
    assert {r.headers["RateLimit-Limit"] for r in answers} == {"30"}
    assert all(0 < int(r.headers["RateLimit-Reset"]) <= 60 for r in answers)
    refused = answers[-1]
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Request-ID"]


async def test_callers_with_a_token_are_limited_per_subject_whatever_the_kind(
    database_url: str, tmp_path: Path
) -> None:
    assert DEFAULTS["rest_rate_limit_authenticated"].default == 120
    settings = make_settings(
        database_url, tmp_path, rest_rate_limit_authenticated=3, rest_rate_limit_anonymous=100
    )
    async with serve(settings) as api:
        alice, bob = await register(api), await register(api)
        first = [await api.get("/api/v1/wallet/balance", headers=alice["headers"]) for _ in "abc"]
        assert _statuses(first) == [200, 200, 200]
        assert [r.headers["RateLimit-Remaining"] for r in first] == ["2", "1", "0"]
        assert {r.headers["RateLimit-Limit"] for r in first} == {"3"}
        # Another token of the same agent shares its count; another agent has its own.
        again = await api.get(AGENTS, headers=bearer(token(TokenKind.AGENT, alice["id"])))
        assert_problem(again, 429, "rate_limited")
        assert (await api.get(AGENTS, headers=bob["headers"])).headers["RateLimit-Remaining"] == "2"
        # Operators and creators count per subject too; anonymous callers are apart.
        operator = bearer(token(TokenKind.OPERATOR, uuid.uuid4()))
        assert (await api.get(AGENTS, headers=operator)).headers["RateLimit-Limit"] == "3"
        assert (await api.get(AGENTS)).headers["RateLimit-Limit"] == "100"
        # A token that does not verify, or has expired, is an anonymous caller.
        forged = bearer(token(TokenKind.AGENT, alice["id"], secret="not-the-secret" * 3))
        expired = bearer(token(TokenKind.AGENT, alice["id"], expire_hours=-1))
        for headers in (forged, expired):
            answer = await api.get(AGENTS, headers=headers)
            assert answer.status_code == 200 and answer.headers["RateLimit-Limit"] == "100"


async def test_health_docs_openapi_and_metrics_are_exempt(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, rest_rate_limit_anonymous=1)
    async with serve(settings) as api:
        for path in ("/api/v1/health/cdn", "/docs", "/openapi.json", "/metrics"):
            answers = [await api.get(path) for _ in range(3)]
            assert _statuses(answers) == [200] * 3, path
            assert all("RateLimit-Limit" not in r.headers for r in answers)
        assert (await api.get("/api/v1/health")).status_code == 200
        # Only those paths: a look-alike is limited like any other request.
        assert _statuses([await api.get("/api/v1/healthz"), await api.get(AGENTS)]) == [404, 429]


async def test_the_client_is_the_socket_peer_unless_it_is_a_trusted_proxy(
    database_url: str, tmp_path: Path
) -> None:
    # ASGITransport's peer is 127.0.0.1: by default X-Forwarded-For changes nothing.
    untrusted = make_settings(database_url, tmp_path, rest_rate_limit_anonymous=2)
    async with serve(untrusted) as api:
        spoofed = [
            await api.get(AGENTS, headers={"X-Forwarded-For": f"10.0.0.{n}"}) for n in (1, 2, 3)
        ]
    assert _statuses(spoofed) == [200, 200, 429]

    trusted = make_settings(
        database_url, tmp_path, rest_rate_limit_anonymous=2, trusted_proxies="127.0.0.1"
    )
    async with serve(trusted) as api:

        async def from_(chain: str) -> int:
            response = await api.get(AGENTS, headers={"X-Forwarded-For": chain})
            return response.status_code

        assert [await from_("10.0.0.1") for _ in range(3)] == [200, 200, 429]
        assert await from_("10.0.0.2") == 200
        # The proxy appends the real peer: an address the client prepends does not help it.
        assert await from_("192.0.2.7, 10.0.0.1") == 429
        # An IPv6 client is its /64: hopping between its addresses does not help either.
        assert [await from_(f"2001:db8::{n}") for n in (1, 2, 3)] == [200, 200, 429]
        assert await from_("2001:db8:0:1::1") == 200


async def test_registrations_per_client_are_limited_per_hour(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, registrations_per_client_per_hour=2, trusted_proxies="127.0.0.1"
    )
    async with serve(settings) as api:

        async def register_from(client: str, name: str) -> httpx.Response:
            body = {"name": name, "agent_type": "both"}
            headers = {"X-Forwarded-For": client}
            return await api.post(f"{AGENTS}/register", json=body, headers=headers)

        assert [(await register_from("10.0.0.1", unique())).status_code for _ in "ab"] == [201] * 2
        name = unique()
        refused = await register_from("10.0.0.1", name)
        assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        # Nothing was registered; another client registers that very name.
        assert (await register_from("10.0.0.2", name)).status_code == 201


@asynccontextmanager
async def private_redis(port: int) -> AsyncIterator[None]:
    """A Redis of this test's own, that keeps nothing: stopping it loses every count."""
    server = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            if await _redis_cli(port, "ping"):
                break
            await asyncio.sleep(0.05)
        yield
    finally:
        server.kill()
        await server.wait()


async def _redis_cli(port: int, *command: str) -> list[str]:
    cli = await asyncio.create_subprocess_exec(
        "redis-cli", "-p", str(port), *command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await cli.communicate()
    return out.decode().split() if cli.returncode == 0 else []


async def test_a_redis_that_goes_away_does_not_take_the_api_with_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core.rate_limits, "SHARED_STORE_RETRY_SECONDS", 0.5)
    port = free_port()
    settings = make_settings(
        database_url,
        tmp_path,
        rest_rate_limit_anonymous=3,
        rate_limit_storage_url=f"redis://127.0.0.1:{port}/0",
    )
    errors_before = _sample("agentchains_rate_limit_store_errors_total")
    async with serve(settings) as api:
        async with private_redis(port):
            assert _statuses([await api.get(AGENTS) for _ in "ab"]) == [200, 200]
            assert await _redis_cli(port, "keys", "agentchains*")
        # Redis is gone: this process counts on its own (fail open to local limits).
        local = [await api.get(AGENTS) for _ in range(4)]
        assert _statuses(local) == [200, 200, 200, 429]
        assert _sample("agentchains_rate_limit_store_errors_total") > errors_before
        # Back again: after a short pause the shared store counts once more.
        async with private_redis(port):
            await asyncio.sleep(0.6)
            assert (await api.get(AGENTS)).status_code == 200
            assert await _redis_cli(port, "keys", "agentchains*")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_api_processes_share_one_limit_through_redis(
    api_processes: StartApiProcesses,
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    shared = api_processes(
        2,
        rest_rate_limit_anonymous=20,
        rate_limit_storage_url=REDIS_URL,
        rate_limit_key_prefix=prefix,
    )
    async with shared:
        answers = await _both_answer(shared, await _burst(shared.url, 60))
        served = shared.requests_per_process(AGENTS)
    assert _statuses(answers).count(200) == 20
    assert _statuses(answers).count(429) == len(answers) - 20
    assert len(served) == 2 and all(count > 0 for count in served.values()), served

    # The same without a shared store: each process counts alone, and says so at start.
    alone = api_processes(2, rest_rate_limit_anonymous=20)
    async with alone:
        answers = await _both_answer(alone, await _burst(alone.url, 60))
    assert _statuses(answers).count(200) > 20  # each process let its own 20 through
    assert "without RATE_LIMIT_STORAGE_URL" in alone.log


async def _both_answer(
    processes: ApiProcesses, answers: list[httpx.Response]
) -> list[httpx.Response]:
    """More bursts until both processes have answered: the kernel spreads new connections as it
    likes, and may hand a whole burst to one process."""
    served = processes.requests_per_process(AGENTS)
    while len(answers) < 200 and not (len(served) == 2 and all(served.values())):
        answers += await _burst(processes.url, 10)
        served = processes.requests_per_process(AGENTS)
    return answers


async def _burst(url: str, requests: int) -> list[httpx.Response]:
    """`requests` GETs, 10 at a time, each on a new connection (so both processes accept)."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=fresh, timeout=30) as client:
        answers: list[httpx.Response] = []
        for _ in range(requests // 10):
            answers += await asyncio.gather(*(client.get(AGENTS) for _ in range(10)))
    return answers


async def test_the_limiter_offers_other_callers_their_own_key_and_rate() -> None:
    limiter = core.rate_limits.Limiter()
    before = _sample("agentchains_rate_limit_refusals_total", limit="mcp")
    session = f"mcp:{uuid.uuid4()}"
    verdicts = [await limiter.hit(session, "2/minute", name="mcp") for _ in range(3)]
    assert [(v.allowed, v.limit, v.remaining) for v in verdicts] == [
        (True, 2, 1),
        (True, 2, 0),
        (False, 2, 0),
    ]
    assert (await limiter.hit(f"mcp:{uuid.uuid4()}", "2/minute", name="mcp")).allowed
    assert _sample("agentchains_rate_limit_refusals_total", limit="mcp") == before + 1
