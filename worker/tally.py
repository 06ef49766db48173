"""The worker process's tally (ADR 0038): closed purchases are folded into reputation and
trade counters from the outbox, a batch at a time, beside the purchases rather than inside
them. Several worker processes may run it: the cursor's row lock lets one fold at a time."""

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import unit_of_work
from domain.purchases import tally

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the outbox is read when the last read was not a full batch
RETRY_SECONDS = 2.0  # after a failed fold (the database away): nothing moved, it runs again


async def follow(sessions: async_sessionmaker[AsyncSession], window_seconds: int) -> None:
    """Fold closed purchases until cancelled."""
    while True:
        try:
            async with unit_of_work(sessions) as session:
                read = await tally.advance(session, window_seconds)
        except Exception:
            log.exception("the tally could not advance; it tries again")
            await asyncio.sleep(RETRY_SECONDS)
            continue
        if read < tally.BATCH:
            await asyncio.sleep(POLL_SECONDS)
