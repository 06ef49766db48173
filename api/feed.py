"""The live feed in one API process (ADR 0021): the outbox follower (`api/outbox.py`) publishes
each event here once, and it reaches every WebSocket client of this process that may see it.

- Isolation by the table of event types (`domain.events.visible_to`): public events to all,
  private ones to their audience (operators see them all), operators' to operators, internal
  ones to nobody.
- Each client has a bounded queue; publishing never waits on a client. One that falls
  `FEED_CLIENT_QUEUE_SIZE` events behind is closed with 4008 and resumes with `?since=`.
- `?since=<event id>` replays what the client missed from the outbox, up to where this process
  stood when the client subscribed, and the live events after that follow: no gap, no
  duplicate. Live events at or before `since` (a client coming from a process further ahead)
  are skipped. An unknown `since`, or one past retention, gets a `resync_required` message.
"""

import asyncio
import contextlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import unit_of_work
from core.ids import parse_id
from core.security import TokenKind
from domain import events
from domain.events import START, Cursor, Event, EventType
from domain.events.envelope import envelope

MISSING_TOKEN, INVALID_TOKEN, SLOW_CLIENT = 4001, 4003, 4008
REPLAY_BATCH = 500
CLOSE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Viewer:
    kind: TokenKind
    id: str


class Subscriber:
    """One client: what it may see, and the messages waiting to be sent to it."""

    def __init__(
        self, viewer: Viewer, types: Collection[str] | None, floor: Cursor, size: int
    ) -> None:
        self.viewer, self.types, self.floor = viewer, types, floor
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(size)
        self.close_code, self.close_reason = 1000, ""

    def sees(self, event_type: str, audience: Collection[str]) -> bool:
        if self.types is not None and event_type not in self.types:
            return False
        return events.visible_to(event_type, audience, self.viewer.kind, self.viewer.id)

    def end(self, code: int, reason: str, *, discard_pending: bool) -> None:
        """Close after what is queued (or at once, dropping it)."""
        self.close_code, self.close_reason = code, reason
        if discard_pending or self.queue.full():
            while not self.queue.empty():
                self.queue.get_nowait()
        self.queue.put_nowait(None)


class Feed:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], queue_size: int, retention_days: int
    ) -> None:
        self._sessions, self._queue_size = sessions, queue_size
        self._retention = timedelta(days=retention_days)
        self._subscribers: set[Subscriber] = set()
        self.cursor = START  # the last event published: where the follower stands
        self.on_watch: Callable[[], None] | None = None  # called when a first client joins

    def publish(self, event: Event) -> None:
        cursor = events.cursor_of(event)
        message: str | None = None
        for subscriber in tuple(self._subscribers):
            if cursor <= subscriber.floor or not subscriber.sees(event.type, event.audience):
                continue
            message = message or json.dumps(envelope(event))
            try:
                subscriber.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._subscribers.discard(subscriber)
                reason = "too far behind: resume with since"
                subscriber.end(SLOW_CLIENT, reason, discard_pending=True)
        if event.type == EventType.AGENT_DEACTIVATED:
            self._revoke(str(event.payload.get("agent_id")))
        self.cursor = cursor

    @property
    def watched(self) -> bool:
        """Some client is connected to this process's feed."""
        return bool(self._subscribers)

    def pass_over(self, cursor: Cursor) -> None:
        """Stand at `cursor` without publishing what lies before it: for when nobody watches."""
        self.cursor = max(self.cursor, cursor)

    def _revoke(self, agent_id: str) -> None:
        """A deactivated agent's token is no longer valid: its clients close after the event."""
        for subscriber in tuple(self._subscribers):
            if subscriber.viewer == Viewer(TokenKind.AGENT, agent_id):
                self._subscribers.discard(subscriber)
                subscriber.end(INVALID_TOKEN, "the agent is deactivated", discard_pending=False)

    def subscribe(
        self, viewer: Viewer, types: Collection[str] | None, floor: Cursor = START
    ) -> tuple[Subscriber, Cursor]:
        """A new client, and the cursor after which it receives live events (atomically: no
        event is published between the two)."""
        subscriber = Subscriber(viewer, types, floor, self._queue_size)
        first = not self._subscribers
        self._subscribers.add(subscriber)
        if first and self.on_watch is not None:
            self.on_watch()
        return subscriber, self.cursor

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def stream(
        self,
        websocket: WebSocket,
        viewer: Viewer,
        since: str | None,
        types: Collection[str] | None,
        expires_at: datetime | None,
    ) -> None:
        """Serve one accepted connection until the client leaves, falls behind, or its token
        stops being valid."""
        resume = await self._resume_point(since) if since is not None else None
        subscriber, upto = self.subscribe(viewer, types, resume or START)
        try:
            deadline = (expires_at - utcnow()).total_seconds() if expires_at else None
            async with asyncio.timeout(deadline):
                sender = asyncio.create_task(self._send(websocket, subscriber, since, resume, upto))
                receiver = asyncio.create_task(_until_disconnected(websocket))
                try:
                    await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (sender, receiver):
                        task.cancel()
                    await asyncio.gather(sender, receiver, return_exceptions=True)
        except TimeoutError:
            await _close(websocket, INVALID_TOKEN, "the token has expired")
        finally:
            self.unsubscribe(subscriber)

    async def _resume_point(self, since: str) -> Cursor | None:
        """The cursor of the event `since` names, if it is known and within retention."""
        event_id = parse_id(since)
        async with unit_of_work(self._sessions) as session:
            found = await events.find(session, event_id) if event_id else None
        if found is None or found.created_at < utcnow() - self._retention:
            return None
        return events.cursor_of(found)

    async def _send(
        self,
        websocket: WebSocket,
        subscriber: Subscriber,
        since: str | None,
        resume: Cursor | None,
        upto: Cursor,
    ) -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            if since is not None and resume is None:
                await websocket.send_text(json.dumps(_resync(since)))
            elif resume is not None:
                await self._replay(websocket, subscriber, resume, upto)
            while (message := await subscriber.queue.get()) is not None:
                await websocket.send_text(message)
            await _close(websocket, subscriber.close_code, subscriber.close_reason)

    async def _replay(
        self, websocket: WebSocket, subscriber: Subscriber, cursor: Cursor, upto: Cursor
    ) -> None:
        """The events after `cursor` up to `upto` this client may see, from the outbox."""
        while cursor < upto:
            async with unit_of_work(self._sessions) as session:
                batch = await events.after(session, cursor, limit=REPLAY_BATCH, until=upto)
            if not batch:
                return
            for event in batch:
                if subscriber.sees(event.type, event.audience):
                    await websocket.send_text(json.dumps(envelope(event)))
            cursor = events.cursor_of(batch[-1])


def _resync(since: str) -> dict[str, Any]:
    return {
        "id": None,
        "type": "resync_required",
        "timestamp": utcnow().isoformat(),
        "data": {
            "since": since,
            "reason": "unknown event, or older than the retention: read the current state anew",
        },
    }


async def _until_disconnected(websocket: WebSocket) -> None:
    """Clients only listen; reading is how a departure is noticed."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close, without waiting forever on a client that reads nothing."""
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await websocket.close(code, reason)
