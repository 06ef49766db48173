"""The API's outbox follower: its handlers get their events whether or not anyone watches the
feed; while nobody does, it passes over the rest, and a client that connects later gets every
event from then on."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.feed import Feed, Viewer
from api.outbox import Follower
from core.db import read_only, unit_of_work
from core.security import TokenKind
from core.settings import Settings
from domain import events
from domain.events import EventType

Sessions = async_sessionmaker[AsyncSession]
HANDLED = EventType.CDN_DECAY  # internal: handled in the process, shown to no client
PASSED = EventType.LISTING_CREATED
POLL_SECONDS = 0.01
WAIT_SECONDS = 10


@pytest.fixture
async def following(
    sessions: Sessions, settings: Settings
) -> AsyncIterator[tuple[Feed, list[dict[str, Any]]]]:
    feed = Feed(sessions, queue_size=100, retention_days=1)
    handled: list[dict[str, Any]] = []
    follower = Follower(
        sessions, settings.database_url, feed, {HANDLED: handled.append}, POLL_SECONDS
    )
    await follower.start()
    running = asyncio.create_task(follower.run())
    yield feed, handled
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def _emit(sessions: Sessions, *kinds: EventType) -> None:
    async with unit_of_work(sessions) as session:
        for number, kind in enumerate(kinds):
            events.emit(session, kind, {"n": number})


async def _until(done: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not await done():  # noqa: ASYNC110  (a database poll: nothing to wait on)
            await asyncio.sleep(POLL_SECONDS)


async def test_unwatched_it_runs_its_handlers_and_stands_at_the_newest_event(
    sessions: Sessions, following: tuple[Feed, list[dict[str, Any]]]
) -> None:
    feed, handled = following
    await _emit(sessions, PASSED, HANDLED, PASSED, PASSED)
    async with read_only(sessions) as session:
        newest = await events.latest(session)

    async def caught_up() -> bool:
        return feed.cursor >= newest

    await _until(caught_up)
    assert handled == [{"n": 1}]
    assert feed.cursor == newest  # a client connecting now starts after everything passed over


async def test_a_client_that_connects_later_gets_every_event_from_then_on(
    sessions: Sessions, following: tuple[Feed, list[dict[str, Any]]]
) -> None:
    feed, handled = following
    await _emit(sessions, PASSED, HANDLED)

    async def handled_once() -> bool:
        return len(handled) == 1

    await _until(handled_once)
    client, start = feed.subscribe(Viewer(TokenKind.OPERATOR, "operator"), None)
    await _emit(sessions, PASSED, HANDLED, PASSED)
    received: list[dict[str, Any]] = []

    async def both_received() -> bool:
        while not client.queue.empty():
            message = client.queue.get_nowait()
            assert message is not None
            received.append(json.loads(message))
        return len(received) == 2

    await _until(both_received)
    assert [(m["type"], m["data"]["n"]) for m in received] == [(PASSED, 0), (PASSED, 2)]
    assert len(handled) == 2
    assert feed.cursor > start
