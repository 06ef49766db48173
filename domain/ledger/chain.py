"""The hash chain over ledger entries.

Each entry stores the previous entry's hash and SHA-256(prev_hash | canonical JSON of the entry);
the first entry's prev_hash is `GENESIS`. Sequences are contiguous from 1, so a deleted entry
shows as a gap. Appends lock the single chain-head row first, which serializes them: the chain
cannot fork (see docs/adr/0004-ledger-serialized-appends.md).
"""

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models.ledger import LedgerChainHead, LedgerEntry

GENESIS = "GENESIS"
HEAD_ID = 1


def canonical(entry: LedgerEntry) -> bytes:
    fields = {
        "sequence": entry.sequence,
        "id": str(entry.id),
        "movement_id": str(entry.movement_id),
        "from": str(entry.from_account_id),
        "to": str(entry.to_account_id),
        "amount": entry.amount,
        "tx_type": entry.tx_type,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, entry: LedgerEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"|" + canonical(entry)).hexdigest()


async def lock_head(session: AsyncSession) -> LedgerChainHead:
    """Take the ledger's write lock (first, always, so lock order is fixed)."""
    head = await session.scalar(
        select(LedgerChainHead).where(LedgerChainHead.id == HEAD_ID).with_for_update()
    )
    if head is None:
        raise RuntimeError("ledger chain head missing: run the migrations")
    return head


def append(session: AsyncSession, head: LedgerChainHead, entry: LedgerEntry) -> LedgerEntry:
    entry.sequence = head.last_sequence + 1
    entry.prev_hash = head.last_hash
    entry.hash = entry_hash(head.last_hash, entry)
    head.last_sequence, head.last_hash = entry.sequence, entry.hash
    session.add(entry)
    return entry


@dataclass(frozen=True)
class Verdict:
    valid: bool
    entries_checked: int
    broken_at: str | None = None
    entry_number: int | None = None
    expected: str | None = None
    actual: str | None = None
    reason: str | None = None

    def report(self) -> dict[str, Any]:
        if self.valid:
            return {"valid": True, "entries_checked": self.entries_checked}
        return {k: v for k, v in self.__dict__.items() if v is not None}


async def _entries(session: AsyncSession, batch: int = 2000) -> AsyncIterator[LedgerEntry]:
    last = 0
    while True:
        rows = list(
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.sequence > last)
                .order_by(LedgerEntry.sequence)
                .limit(batch)
            )
        )
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].sequence


async def verify(session: AsyncSession) -> Verdict:
    """Walk the chain from GENESIS; report the first entry whose link or hash does not hold."""
    prev_hash, expected_sequence, checked = GENESIS, 1, 0
    async for entry in _entries(session):
        found = (str(entry.id), entry.sequence)
        if entry.sequence != expected_sequence:
            return Verdict(
                False, checked, *found, str(expected_sequence), str(entry.sequence), "sequence gap"
            )
        if entry.prev_hash != prev_hash:
            return Verdict(
                False, checked, *found, prev_hash, entry.prev_hash, "previous hash does not link"
            )
        recomputed = entry_hash(prev_hash, entry)
        if entry.hash != recomputed:
            return Verdict(False, checked, *found, recomputed, entry.hash, "entry altered")
        prev_hash, expected_sequence, checked = entry.hash, expected_sequence + 1, checked + 1
    head = await session.get(LedgerChainHead, HEAD_ID)
    if head is not None and (head.last_sequence, head.last_hash) != (checked, prev_hash):
        return Verdict(
            False,
            checked,
            None,
            head.last_sequence,
            head.last_hash,
            prev_hash,
            "entries missing at the end of the chain",
        )
    return Verdict(True, checked)
