"""The hash chain over audit entries: the ledger's rules (domain/ledger/chain.py) on a chain of
its own, with its own head row, so audit appends never wait on ledger appends.

Each entry stores the previous entry's hash and SHA-256(prev_hash | canonical JSON of the entry);
the first entry's prev_hash is `GENESIS`; sequences are contiguous from 1, so a deleted entry
shows as a gap and one deleted at the end as a head that the entries no longer reach.
"""

import hashlib
import json
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import Verdict
from models.audit import AuditChainHead, AuditEntry

GENESIS = "GENESIS"
HEAD_ID = 1


def canonical(entry: AuditEntry) -> bytes:
    fields = {
        "sequence": entry.sequence,
        "id": str(entry.id),
        "event_type": entry.event_type,
        "severity": entry.severity,
        "actor": entry.actor,
        "subject": entry.subject,
        "details": entry.details,
        "created_at": entry.created_at.isoformat(timespec="microseconds"),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"|" + canonical(entry)).hexdigest()


async def lock_head(session: AsyncSession) -> AuditChainHead:
    """The audit chain's write lock. Taken last in a transaction (after the ledger's), so the
    two locks are always taken in the same order."""
    head = await session.scalar(
        select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).with_for_update()
    )
    if head is None:
        raise RuntimeError("audit chain head missing: run the migrations")
    return head


def append(session: AsyncSession, head: AuditChainHead, entry: AuditEntry) -> AuditEntry:
    entry.sequence = head.last_sequence + 1
    entry.prev_hash = head.last_hash
    entry.hash = entry_hash(head.last_hash, entry)
    head.last_sequence, head.last_hash = entry.sequence, entry.hash
    session.add(entry)
    return entry


async def _entries(session: AsyncSession, batch: int = 2000) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.sequence > last)
                .order_by(AuditEntry.sequence)
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
    head = await session.get(AuditChainHead, HEAD_ID)
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
