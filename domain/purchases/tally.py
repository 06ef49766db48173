"""The tally: reputation and trade counters follow the purchases that closed, folded in from the
outbox (ADR 0038), not inside the purchase's own unit of work.

A purchase's closing event (`transaction_completed`, `_disputed`, `_expired`, `_refunded`,
`_failed`) is committed with its status. `advance` reads the closing events after the `tally`
cursor, folds their purchases into both parties' records (every closed one) and trade counters
(the completed ones), and moves the cursor, all in one transaction: across crashes and
concurrent followers a purchase is counted once or not yet, never twice or lost.
"""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import analytics, events, reputation
from domain.events import EventType
from models.purchases import Transaction
from workflows.contracts.purchase import FINAL, PurchaseStatus

CURSOR = "tally"
BATCH = 500
CLOSINGS = sorted(EventType(f"transaction_{status}") for status in FINAL)


async def advance(session: AsyncSession, window_seconds: int, limit: int = BATCH) -> int:
    """Fold the next purchases that closed; how many closing events were read."""
    cursor = await events.held_cursor(session, CURSOR)
    batch = await events.after(
        session, events.Cursor(cursor.txid, cursor.sequence), CLOSINGS, limit
    )
    if not batch:
        return 0
    last = events.cursor_of(batch[-1])
    cursor.txid, cursor.sequence = last.txid, last.sequence
    ids = [uuid.UUID(event.payload["transaction_id"]) for event in batch]
    found = await session.scalars(select(Transaction).where(Transaction.id.in_(ids)))
    by_id = {tx.id: tx for tx in found}
    closed = [by_id[tx_id] for tx_id in ids]
    await reputation.record_closed(session, closed, window_seconds)
    completed = [tx for tx in closed if tx.status == PurchaseStatus.COMPLETED]
    await analytics.record_sales(session, completed)
    return len(batch)
