"""Every API process follows the outbox for the events it must act on itself.

The cache-decay workflow runs once per interval in the worker, but the hot tier lives in each
API process: the workflow writes a `cdn_decay` event and every process applies it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import metrics
from core.db import read_only
from domain import events

log = logging.getLogger(__name__)

BATCH = 500

Handler = Callable[[dict[str, object]], Awaitable[None] | None]


async def follow(
    sessions: async_sessionmaker[AsyncSession],
    handlers: dict[str, Handler],
    poll_seconds: float = 1.0,
) -> None:
    """Run until cancelled; starts after the newest event, so a restart replays nothing.
    A database that is down delays the follower; it never stops the API."""
    seen: events.Cursor | None = None
    while True:
        try:
            async with read_only(sessions) as session:
                newest = await events.latest(session)
                seen = newest if seen is None else seen
                batch = await events.after(session, seen, handlers, limit=BATCH)
            for event in batch:
                result = handlers[event.type](event.payload)
                if asyncio.iscoroutine(result):
                    await result
                seen = events.cursor_of(event)
            # Caught up to `newest` unless the batch was cut short (ADR 0020).
            metrics.OUTBOX_LAG.set(newest.sequence - seen.sequence if len(batch) == BATCH else 0)
            metrics.OUTBOX_POLLED.set_to_current_time()
        except Exception:
            log.exception("outbox follower failed; retrying")
        await asyncio.sleep(poll_seconds)
