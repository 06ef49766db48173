"""The hash chain over ledger entries.

Each entry stores the previous entry's hash and SHA-256(prev_hash | canonical JSON of the entry);
core/hashchain.py walks it. Appends hold the single chain-head row while they link, which
serializes them: the chain cannot fork. On PostgreSQL the append runs inside COMMIT, so entries
are numbered in commit order (docs/adr/0028-ledger-chain-appended-at-commit.md).

The canonical encoding is made here only: an append receives each entry's encoding split around
its sequence (`unsequenced`), which is the one part known only once the head is held.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core import hashchain
from core.hashchain import Verdict
from models.ledger import LedgerChainHead, LedgerEntry

_SEQUENCE = "<sequence>"


@dataclass(frozen=True, slots=True)
class Entry:
    """A leg of a movement about to be appended: an entry but for its place in the chain."""

    id: uuid.UUID
    movement_id: uuid.UUID
    from_account_id: uuid.UUID
    to_account_id: uuid.UUID
    amount: int
    tx_type: str
    created_at: datetime


def _encode(sequence: int | str, entry: Entry | LedgerEntry) -> str:
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


def unsequenced(entry: Entry) -> tuple[str, str]:
    """The canonical encoding before and after the sequence: `before + str(n) + after` is the
    encoding of the entry as number n (ASCII, since JSON escapes the rest)."""
    before, after = _encode(_SEQUENCE, entry).split(json.dumps(_SEQUENCE))
    return before, after


def link(prev_hash: str, sequence: int, before: str, after: str) -> str:
    """The hash of an entry at `sequence` after `prev_hash` (the SQL appender computes the same)."""
    return hashchain.link(prev_hash, f"{before}{sequence}{after}".encode())


async def verify(session: AsyncSession) -> Verdict:
    """Walk the ledger's chain from GENESIS; report the first entry whose link or hash does not
    hold."""
    return await hashchain.verify(session, LedgerEntry, LedgerChainHead, canonical)
