"""The audit log: who did what to whom, written in the same transaction as the action and
chained by hash (domain/audit/chain.py), so a changed or deleted entry is found.

    await audit.record(session, AuditEvent.AGENT_CLAIMED, actor=party("creator", c), subject=...)

Parties are `kind:id` strings (`agent:…`, `creator:…`, `operator:…`), or `SYSTEM` for the
platform's own schedules and `CLI` for the operators' command line.
"""

import json
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import paginate
from domain.audit import chain
from domain.audit.chain import verify
from domain.ledger import Verdict
from models.audit import AuditEntry, Severity

__all__ = ["CLI", "SYSTEM", "AuditEntry", "AuditEvent", "Severity", "Verdict", "party", "verify"]

SYSTEM = "system"
CLI = "cli"


class AuditEvent(StrEnum):
    CREATOR_LOGIN = "creator_login"
    CREATOR_LOGIN_FAILED = "creator_login_failed"
    LOGIN_THROTTLED = "login_throttled"
    OPERATOR_CREATED = "operator_created"
    DEPOSIT_CONFIRMED = "deposit_confirmed"
    REDEMPTION_APPROVED = "redemption_approved"
    REDEMPTION_REJECTED = "redemption_rejected"
    AGENT_DEACTIVATED = "agent_deactivated"
    AGENT_CLAIMED = "agent_claimed"
    LEDGER_AUDIT_FAILED = "ledger_audit_failed"
    WEBHOOK_REGISTERED = "webhook_registered"
    WEBHOOK_DELETED = "webhook_deleted"
    WEBHOOK_PAUSED = "webhook_paused"

    @property
    def severity(self) -> Severity:
        return SEVERITY[self]


SEVERITY: dict[AuditEvent, Severity] = {
    AuditEvent.CREATOR_LOGIN: Severity.INFO,
    AuditEvent.CREATOR_LOGIN_FAILED: Severity.WARNING,
    AuditEvent.LOGIN_THROTTLED: Severity.WARNING,
    AuditEvent.OPERATOR_CREATED: Severity.WARNING,
    AuditEvent.DEPOSIT_CONFIRMED: Severity.INFO,
    AuditEvent.REDEMPTION_APPROVED: Severity.INFO,
    AuditEvent.REDEMPTION_REJECTED: Severity.INFO,
    AuditEvent.AGENT_DEACTIVATED: Severity.INFO,
    AuditEvent.AGENT_CLAIMED: Severity.INFO,
    AuditEvent.LEDGER_AUDIT_FAILED: Severity.CRITICAL,
    AuditEvent.WEBHOOK_REGISTERED: Severity.INFO,
    AuditEvent.WEBHOOK_DELETED: Severity.INFO,
    AuditEvent.WEBHOOK_PAUSED: Severity.WARNING,
}


def party(kind: str, party_id: uuid.UUID | str) -> str:
    return f"{kind}:{party_id}"


async def record(
    session: AsyncSession,
    event: AuditEvent,
    *,
    actor: str | None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
    severity: Severity | None = None,
) -> AuditEntry:
    """Append an entry; it exists only if the surrounding transaction commits. Call it last in
    the action (it takes the audit chain's lock, which is held until the commit)."""
    entry = AuditEntry(
        id=uuid.uuid4(),
        event_type=event,
        severity=severity or event.severity,
        actor=actor,
        subject=subject,
        # stored as JSON and hashed as read back: plain JSON values only
        details=json.loads(json.dumps(dict(details or {}), default=str)),
        created_at=utcnow(),
    )
    return chain.append(session, await chain.lock_head(session), entry)


async def page(
    session: AsyncSession,
    *,
    involving: str | None = None,
    event_type: str | None = None,
    severity: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[int, list[AuditEntry]]:
    """Entries, newest first; `involving` narrows them to those a party did or underwent."""
    query = select(AuditEntry)
    if involving is not None:
        query = query.where(or_(AuditEntry.actor == involving, AuditEntry.subject == involving))
    if event_type:
        query = query.where(AuditEntry.event_type == event_type)
    if severity:
        query = query.where(AuditEntry.severity == severity)
    return await paginate(
        session, query, AuditEntry.sequence.desc(), page=page, page_size=page_size
    )
