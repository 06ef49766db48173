"""Walking a hash chain: the ledger's entries and the audit log's, each on a chain of its own.

Each entry stores the previous entry's hash and SHA-256(prev_hash | its canonical encoding); the
first entry's prev_hash is `GENESIS`. Sequences are contiguous from 1, so a deleted entry shows
as a gap, and one deleted at the end as a head row that the entries no longer reach.
"""

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

GENESIS = "GENESIS"
HEAD_ID = 1


class Linked(Protocol):
    id: Any
    sequence: int
    prev_hash: str
    hash: str


E = TypeVar("E", bound=Linked)


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


async def _entries(session: AsyncSession, model: Any, batch: int = 2000) -> AsyncIterator[Any]:
    last = 0
    while True:
        rows = list(
            await session.scalars(
                select(model).where(model.sequence > last).order_by(model.sequence).limit(batch)
            )
        )
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].sequence


def link(prev_hash: str, encoding: bytes) -> str:
    """The hash of an entry whose canonical encoding is `encoding`, after `prev_hash`."""
    return hashlib.sha256(prev_hash.encode() + b"|" + encoding).hexdigest()


async def verify(
    session: AsyncSession, entries: type[E], head: Any, canonical: Callable[[E], bytes]
) -> Verdict:
    """Walk the chain of `entries` (each encoded by `canonical`) from GENESIS to its `head` row;
    report the first entry whose link or hash does not hold."""
    prev_hash, expected_sequence, checked = GENESIS, 1, 0
    async for entry in _entries(session, entries):
        found = (str(entry.id), entry.sequence)
        if entry.sequence != expected_sequence:
            return Verdict(
                False, checked, *found, str(expected_sequence), str(entry.sequence), "sequence gap"
            )
        if entry.prev_hash != prev_hash:
            return Verdict(
                False, checked, *found, prev_hash, entry.prev_hash, "previous hash does not link"
            )
        recomputed = link(prev_hash, canonical(entry))
        if entry.hash != recomputed:
            return Verdict(False, checked, *found, recomputed, entry.hash, "entry altered")
        prev_hash, expected_sequence, checked = entry.hash, expected_sequence + 1, checked + 1
    last = await session.get(head, HEAD_ID)
    if last is not None and (last.last_sequence, last.last_hash) != (checked, prev_hash):
        return Verdict(
            False,
            checked,
            None,
            last.last_sequence,
            last.last_hash,
            prev_hash,
            "entries missing at the end of the chain",
        )
    return Verdict(True, checked)
