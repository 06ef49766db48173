"""Idempotency-Key records on both databases: claimed in one statement, replayed once answered,
refused while in progress or with another request, and taken over only once expired."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import unit_of_work
from core.errors import Conflict, RuleViolation
from domain import idempotency
from models.idempotency import IdempotencyKey

Sessions = async_sessionmaker[AsyncSession]
TTL = timedelta(hours=24)


async def _claim(sessions: Sessions, key: str, request_hash: str = "a" * 64) -> object:
    async with unit_of_work(sessions) as session:
        return await idempotency.claim(session, "scope", key, request_hash, TTL)


async def _answer(sessions: Sessions, key: str, body: object) -> None:
    async with unit_of_work(sessions) as session:
        claimed = await idempotency.claim(session, "scope", key, "a" * 64, TTL)
        assert isinstance(claimed, idempotency.Claimed)
        await idempotency.complete(session, claimed, 201, body, {"Location": "/there"})


async def test_an_answered_key_replays_its_response(sessions: Sessions) -> None:
    key = uuid.uuid4().hex
    await _answer(sessions, key, {"id": 1})
    replay = await _claim(sessions, key)
    assert replay == idempotency.Replay(201, {"id": 1}, {"Location": "/there"})


async def test_a_key_with_another_request_is_refused(sessions: Sessions) -> None:
    key = uuid.uuid4().hex
    await _answer(sessions, key, {"id": 1})
    with pytest.raises(RuleViolation) as refused:
        await _claim(sessions, key, request_hash="b" * 64)
    assert refused.value.code == "idempotency_key_reused"


async def test_a_claim_that_rolled_back_leaves_no_key(sessions: Sessions) -> None:
    key = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            await idempotency.claim(session, "scope", key, "a" * 64, TTL)
            raise RuntimeError("the guarded change failed")
    assert isinstance(await _claim(sessions, key), idempotency.Claimed)


async def test_an_unanswered_key_is_in_progress(sessions: Sessions) -> None:
    key = uuid.uuid4().hex
    await _claim(sessions, key)  # committed without a response: a request that died mid-way
    with pytest.raises(Conflict) as refused:
        await _claim(sessions, key)
    assert refused.value.code == "idempotency_in_progress"


async def test_an_expired_key_is_taken_over_as_new(sessions: Sessions) -> None:
    key = uuid.uuid4().hex
    await _answer(sessions, key, {"id": 1})
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    await _answer(sessions, key, {"id": 2})
    assert await _claim(sessions, key) == idempotency.Replay(201, {"id": 2}, {"Location": "/there"})
    async with unit_of_work(sessions) as session:
        rows = (
            await session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key))
        ).all()
    assert len(rows) == 1 and rows[0].expires_at > utcnow()


async def test_concurrent_claims_of_one_key_claim_it_once(sessions: Sessions) -> None:
    key = uuid.uuid4().hex

    async def attempt() -> str:
        try:
            async with unit_of_work(sessions) as session:
                claimed = await idempotency.claim(session, "scope", key, "a" * 64, TTL)
                if isinstance(claimed, idempotency.Replay):
                    return "replayed"
                await idempotency.complete(session, claimed, 201, {"id": 1})
                return "claimed"
        except Conflict:
            return "in progress"

    outcomes = await asyncio.gather(*(attempt() for _ in range(8)))
    assert outcomes.count("claimed") == 1, outcomes
