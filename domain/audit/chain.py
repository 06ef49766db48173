"""The hash chain over audit entries (core/hashchain.py): a chain of its own, with its own
head row, so audit appends never wait on ledger appends.
"""

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import hashchain
from core.hashchain import HEAD_ID, Verdict
from models.audit import AuditChainHead, AuditEntry


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
    entry.hash = hashchain.link(head.last_hash, canonical(entry))
    head.last_sequence, head.last_hash = entry.sequence, entry.hash
    session.add(entry)
    return entry


async def verify(session: AsyncSession) -> Verdict:
    """Walk the audit chain from GENESIS; report the first entry whose link or hash does not
    hold."""
    return await hashchain.verify(session, AuditEntry, AuditChainHead, canonical)
