"""Registration cannot be farmed: the signup bonus stops at the daily budget, registration does
not; the budget holds under concurrent registrations on two API processes (PostgreSQL)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from models.agents import SignupBonusDay
from models.ledger import LedgerMovement
from tests.api.helpers import unique
from tests.conftest import StartApiProcesses, make_settings, serve
from tests.ledger_helpers import assert_invariants

REGISTER = "/api/v1/agents/register"
BONUS = 100_000  # units: 100 ARD


@asynccontextmanager
async def database(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _bonuses_to(sessions: async_sessionmaker[AsyncSession], ids: list[str]) -> int:
    """Signup-bonus movements recorded for these agents."""
    async with unit_of_work(sessions) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LedgerMovement)
            .where(LedgerMovement.tx_type == "signup_bonus", LedgerMovement.reference_id.in_(ids))
        )
    return int(count or 0)


async def _register(api: httpx.AsyncClient) -> dict[str, str]:
    response = await api.post(REGISTER, json={"name": unique(), "agent_type": "both"})
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def test_past_the_daily_budget_agents_register_without_a_bonus(
    private_postgres_url: str, tmp_path: Path
) -> None:
    # Its own database: the day's budget is counted per database.
    settings = make_settings(private_postgres_url, tmp_path, signup_bonus_daily_budget_ard="300")
    async with serve(settings) as api:
        agents = [await _register(api) for _ in range(5)]
        balances = []
        for agent in agents:
            headers = {"Authorization": f"Bearer {agent['jwt_token']}"}
            wallet = await api.get("/api/v1/wallet/balance", headers=headers)
            balances.append(wallet.json()["balance"])
    assert [a["signup_bonus_ard"] for a in agents] == ["100.000"] * 3 + ["0.000"] * 2
    assert balances == ["100.000"] * 3 + ["0.000"] * 2
    async with database(private_postgres_url) as sessions:
        assert await _bonuses_to(sessions, [a["id"] for a in agents]) == 3
        async with unit_of_work(sessions) as session:
            day = await session.get(SignupBonusDay, utcnow().date())
            assert day is not None and day.granted_units == 3 * BONUS
        await assert_invariants(sessions)


async def test_a_budget_smaller_than_one_bonus_grants_none(sqlite_url: str, tmp_path: Path) -> None:
    settings = make_settings(sqlite_url, tmp_path, signup_bonus_daily_budget_ard="99.999")
    async with serve(settings) as api:
        assert (await _register(api))["signup_bonus_ard"] == "0.000"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_registrations_on_two_processes_never_exceed_the_budget(
    private_postgres_url: str, api_processes: StartApiProcesses
) -> None:
    stack = api_processes(
        2, database_url=private_postgres_url, signup_bonus_daily_budget_ard="500", db_pool_size=10
    )
    fresh = httpx.Limits(max_keepalive_connections=0)  # new connections: both processes accept
    async with stack, httpx.AsyncClient(base_url=stack.url, timeout=60, limits=fresh) as api:
        agents: list[dict[str, str]] = []
        served = stack.requests_per_process(REGISTER)
        # The kernel spreads new connections as it likes: go on until both processes registered.
        while len(agents) < 24 or (
            len(agents) < 120 and not (len(served) == 2 and all(served.values()))
        ):
            agents += await asyncio.gather(*(_register(api) for _ in range(6)))
            served = stack.requests_per_process(REGISTER)
    granted = [a["signup_bonus_ard"] for a in agents]
    assert granted.count("100.000") == 5 and granted.count("0.000") == len(agents) - 5
    assert len(served) == 2 and all(served.values()), served  # both processes registered
    async with database(private_postgres_url) as sessions:
        assert await _bonuses_to(sessions, [a["id"] for a in agents]) == 5
        async with unit_of_work(sessions) as session:
            day = await session.get(SignupBonusDay, utcnow().date())
            assert day is not None and day.granted_units == 5 * BONUS
        await assert_invariants(sessions)


def test_a_budget_beyond_the_money_limit_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="signup_bonus_daily_budget_ard"):
        make_settings(
            "sqlite+aiosqlite:///unused.db", tmp_path, signup_bonus_daily_budget_ard="1e12"
        )
