"""The one reader of the outbox in each API process (ADR 0021).

It reads events in commit order (`domain.events.after`) and hands each one to this process's
own handlers (the cache decay, ADR 0008) and to the live feed (`api/feed.py`), which fans it out
to this process's WebSocket clients. On PostgreSQL every transaction that wrote events NOTIFYs
its id as it commits (migration 0013): that wakes the follower at once. It also reads every
`FEED_POLL_INTERVAL_MS` in case a wake-up is lost, and on SQLite that poll is all there is.
While no client is connected it only polls, once a second, reads only the events its handlers
take and passes over the rest: wake-ups, the fast poll and every event are for live clients.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.feed import Feed
from core import metrics
from core.db import notifications, read_only
from domain import events

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
BATCH = 500
FIRST_RETRY_SECONDS = 0.005
IDLE_POLL_SECONDS = 1.0  # without clients: how soon a handler's event (cache decay) is read
RECONNECT_SECONDS = 1.0


class Follower:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        database_url: str,
        feed: Feed,
        handlers: dict[str, Handler],
        poll_seconds: float,
    ) -> None:
        self._sessions, self._url, self._feed = sessions, database_url, feed
        self._handlers, self._poll = handlers, poll_seconds
        self._wake = asyncio.Event()
        self._announced = 0  # the newest transaction said to have committed events
        self._started = False
        feed.on_watch = self._wake.set  # a first client: read for it at once

    async def start(self) -> None:
        """Begin after the newest event: a process that starts replays nothing. A database
        that is down delays this until it is back; it never stops the API."""
        try:
            async with read_only(self._sessions) as session:
                self._feed.cursor = await events.latest(session)
            self._started = True
        except Exception:
            log.warning("outbox follower cannot start yet; retrying", exc_info=True)

    async def run(self) -> None:
        """Until cancelled. A database that is down delays the feed; it never stops the API."""
        listener = None
        if self._url.startswith("postgresql"):
            listener = asyncio.create_task(self._listen())
        retry = 0.0
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(retry or self._next_poll()):
                        await self._wake.wait()
                self._wake.clear()
                if not self._started:
                    await self.start()
                    continue
                try:
                    await self._read()
                except Exception:
                    log.exception("outbox follower failed; retrying")
                # An announced commit still unread waits below an older transaction in flight
                # (one that wrote no event, so no wake-up comes when it ends): look again soon.
                if self._feed.watched and self._announced > self._feed.cursor.txid:
                    retry = min(retry * 2 or FIRST_RETRY_SECONDS, self._poll)
                else:
                    retry = 0.0
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    def _next_poll(self) -> float:
        return self._poll if self._feed.watched else max(self._poll, IDLE_POLL_SECONDS)

    async def _read(self) -> None:
        while True:
            # Without clients only this process's handlers need events: the rest is passed over.
            wanted = None if self._feed.watched else tuple(self._handlers)
            async with read_only(self._sessions) as session:
                newest = await events.latest(session)
                batch = await events.after(session, self._feed.cursor, wanted, limit=BATCH)
            if wanted is not None and self._feed.watched:
                continue  # a client joined meanwhile: it gets every event, so read them all
            for event in batch:
                if handler := self._handlers.get(event.type):
                    try:
                        result = handler(event.payload)
                        if asyncio.iscoroutine(result):
                            await result
                    except Exception:
                        log.exception("handling %s failed", event.type)
                self._feed.publish(event)
            if wanted is not None and len(batch) < BATCH:
                self._feed.pass_over(newest)
            metrics.OUTBOX_LAG.set(max(newest.sequence - self._feed.cursor.sequence, 0))
            metrics.OUTBOX_POLLED.set_to_current_time()
            if len(batch) < BATCH:
                return

    async def _listen(self) -> None:
        while True:
            try:
                async for payload in notifications(self._url, events.CHANNEL):
                    self._announced = max(self._announced, int(payload))
                    if self._feed.watched:  # otherwise the poll is soon enough for the handlers
                        self._wake.set()
            except Exception:
                log.warning("outbox wake-ups lost; polling until they are back", exc_info=True)
            await asyncio.sleep(RECONNECT_SECONDS)
