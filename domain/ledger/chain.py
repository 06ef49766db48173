"""The hash chain over ledger entries.

Each entry stores the previous entry's hash and SHA-256(prev_hash | canonical JSON of the entry);
the first entry's prev_hash is `GENESIS`. Sequences are contiguous from 1, so a deleted entry
shows as a gap. Appends hold the single chain-head row while they link, which serializes them:
the chain cannot fork. On PostgreSQL the append runs inside COMMIT, so entries are numbered in
commit order (docs/adr/0028-ledger-chain-appended-at-commit.md).

The canonical encoding is made here only: an append receives each entry's encoding split around
its sequence (`unsequenced`), which is the one part known only once the head is held.
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


_SEQUENCE = "<sequence>"


def _encode(sequence: int | str, entry: LedgerEntry) -> str:
    fields = {
        "sequence": sequence,
        "id": str(entry.id),
        "movement_id": str(entry.movement_id),
        "from": str(entry.from_account_id),
        "to": str(entry.to_account_id),
        "amount": entry.amount,
        "tx_type": entry.tx_type,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def canonical(entry: LedgerEntry) -> bytes:
    return _encode(entry.sequence, entry).encode()


def unsequenced(entry: LedgerEntry) -> tuple[str, str]:
    """The canonical encoding before and after the sequence: `before + str(n) + after` is the
    encoding of the entry as number n (ASCII, since JSON escapes the rest)."""
    before, after = _encode(_SEQUENCE, entry).split(json.dumps(_SEQUENCE))
    return before, after


def link(prev_hash: str, sequence: int, before: str, after: str) -> str:
    """The hash of an entry at `sequence` after `prev_hash` (the SQL appender computes the same)."""
    return hashlib.sha256(f"{prev_hash}|{before}{sequence}{after}".encode()).hexdigest()


def entry_hash(prev_hash: str, entry: LedgerEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"|" + canonical(entry)).hexdigest()


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
