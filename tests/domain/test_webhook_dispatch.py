"""The dispatcher queues each event once per subscribed endpoint, whatever the commit order and
however many dispatchers run, and wakes an endpoint only when nobody is draining it."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import signatures
from core.db import create_engine, session_factory, unit_of_work
from core.vault import Vault
from domain import agents, events, webhooks
from domain.webhooks import delivery, dispatch, guard
from models.webhooks import WebhookDelivery
from workflows.contracts.webhooks import DeliveryStatus, EndpointKind, EndpointStatus

Sessions = async_sessionmaker[AsyncSession]
LOCAL = guard.Allowlist.parse("127.0.0.1/32")
VAULT = Vault("test key")
LISTED = events.EventType.LISTING_CREATED
TRANSFER = events.EventType.TOKEN_TRANSFER


@pytest.fixture
async def db(private_postgres_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(private_postgres_url, pool_size=12)
    yield session_factory(engine)
    await engine.dispose()


async def _agent(db: Sessions) -> uuid.UUID:
    async with unit_of_work(db) as session:
        agent = await agents.register(
            session, f"a-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 0
        )
        return agent.id


async def _endpoint(db: Sessions, owner: uuid.UUID, *types: str) -> uuid.UUID:
    subscription = webhooks.Subscription(
        EndpointKind.SELLER, "http://127.0.0.1:9/hook", list(types), signatures.new_secret()
    )
    async with unit_of_work(db) as session:
        return (await webhooks.register(session, VAULT, LOCAL, owner, subscription)).id


async def _emit(db: Sessions, kind: events.EventType, n: object, audience: list[uuid.UUID]) -> None:
    async with unit_of_work(db) as session:
        events.emit(session, kind, {"n": n}, audience)


async def _advance(db: Sessions) -> dispatch.Dispatched:
    async with unit_of_work(db) as session:
        return await dispatch.advance(session)


async def _queued(db: Sessions) -> list[tuple[uuid.UUID, object]]:
    async with unit_of_work(db) as session:
        rows = await session.scalars(select(WebhookDelivery))
        return sorted(((d.endpoint_id, json.loads(d.body)["data"]["n"]) for d in rows), key=str)


async def test_each_event_is_queued_once_per_subscriber(db: Sessions) -> None:
    owner, other, third = await _agent(db), await _agent(db), await _agent(db)
    await _emit(db, LISTED, "before", [])
    public = await _endpoint(db, owner, LISTED)
    private = await _endpoint(db, owner, TRANSFER)
    outsider = await _endpoint(db, third, TRANSFER)
    paused = await _endpoint(db, third, LISTED)
    async with unit_of_work(db) as session:
        [row] = await webhooks.lock(session, [paused])
        row.status = EndpointStatus.PAUSED
    await _emit(db, LISTED, "public", [])
    await _emit(db, TRANSFER, "mine", [owner, other])
    await _emit(db, TRANSFER, "theirs", [other, third])
    await _emit(db, events.EventType.CDN_DECAY, "internal", [])

    done = await _advance(db)
    assert sorted(done.woken) == sorted([(public, owner), (private, owner), (outsider, third)])
    assert sorted(await _queued(db), key=str) == sorted(
        [(public, "public"), (private, "mine"), (outsider, "theirs")], key=str
    )
    again = await _advance(db)
    assert (again.read, again.queued, again.woken) == (0, 0, [])
    await _emit(db, LISTED, "later", [])
    assert (await _advance(db)).woken == []  # its queue is still owned: nobody to wake
    assert (public, "later") in await _queued(db)


async def test_concurrent_dispatchers_and_writers_lose_and_double_nothing(db: Sessions) -> None:
    owners = [await _agent(db) for _ in range(3)]
    endpoints = [await _endpoint(db, owner, LISTED) for owner in owners]
    writing = asyncio.gather(*(_emit(db, LISTED, n, []) for n in range(120)))

    async def dispatcher() -> None:
        while not writing.done() or (await _advance(db)).read:
            await _advance(db)
            await asyncio.sleep(0)

    await asyncio.gather(writing, *(dispatcher() for _ in range(4)))
    while (await _advance(db)).read:
        pass
    queued = await _queued(db)
    assert len(queued) == len(set(queued)) == 3 * 120
    assert {endpoint for endpoint, _ in queued} == set(endpoints)


async def test_a_late_commit_is_queued_not_skipped(db: Sessions) -> None:
    owner = await _agent(db)
    endpoint = await _endpoint(db, owner, LISTED)
    slow = db()
    await slow.begin()
    slow.add(events.announcement(LISTED, {"n": "slow"}))  # written now, not as it commits:
    await slow.flush()  # its sequence is taken first...
    await _emit(db, LISTED, "fast", [])  # ...and this one commits first
    await _advance(db)
    await slow.commit()
    await slow.close()
    await _advance(db)
    assert sorted(str(n) for _, n in await _queued(db)) == ["fast", "slow"]
    assert {e for e, _ in await _queued(db)} == {endpoint}


async def test_an_emptied_queue_is_released_and_woken_again(db: Sessions) -> None:
    owner = await _agent(db)
    endpoint = await _endpoint(db, owner, LISTED)
    await _emit(db, LISTED, 1, [])
    assert (await _advance(db)).woken == [(endpoint, owner)]
    async with unit_of_work(db) as session:
        drained = await delivery.settle(session, endpoint)
    assert not drained.closed and drained.next_due is not None  # still pending
    async with unit_of_work(db) as session:
        await session.execute(update(WebhookDelivery).values(status=DeliveryStatus.DELIVERED))
        assert (await delivery.settle(session, endpoint)).closed
    await _emit(db, LISTED, 2, [])
    assert (await _advance(db)).woken == [(endpoint, owner)]
    async with unit_of_work(db) as session:
        stranded = await dispatch.stranded(session)
        total = await session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert stranded == [(endpoint, owner)] and total == 2


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        (None, 4.0),
        ("1", 4.0),
        ("60", 60.0),
        ("86400", 3600.0),
        ("inf", 4.0),
        ("nan", 4.0),
        ("soon", 4.0),
    ],
)
def test_backoff_doubles_and_honours_a_sane_retry_after(
    retry_after: str | None, seconds: float
) -> None:
    outcome = delivery.Outcome(
        False, 503, "answered 503", delivery.retry_after_seconds(retry_after)
    )
    pause = delivery.backoff(3, 1.0, outcome).total_seconds()  # third failure: 1 s x 2 x 2
    assert seconds <= pause <= seconds * 1.1
