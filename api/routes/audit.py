"""The audit log: operators read every entry, an agent the entries where it is actor or subject;
operators verify its hash chain (as `/wallet/ledger/verify` does the ledger's)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import AgentOrOperator, OperatorId, Session
from api.routes import API_PREFIX
from api.schemas.audit import AuditEntries, AuditEntryResponse
from api.schemas.common import PageNumber, PageSize
from core.security import TokenKind
from domain import audit
from domain.audit import Severity
from domain.events.envelope import present

router = APIRouter(prefix=f"{API_PREFIX}/audit", tags=["audit"])


@router.get("/events", response_model=AuditEntries)
async def entries(
    caller: AgentOrOperator,
    session: Session,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
    severity: Severity | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> AuditEntries:
    """Newest first."""
    involving = None if caller.kind is TokenKind.OPERATOR else audit.party(caller.kind, caller.id)
    total, rows = await audit.page(
        session,
        involving=involving,
        event_type=event_type,
        severity=severity,
        page=page,
        page_size=page_size,
    )
    results = [
        AuditEntryResponse(
            id=row.id,
            sequence=row.sequence,
            event_type=row.event_type,
            severity=row.severity,
            actor=row.actor,
            subject=row.subject,
            details=present(row.details),
            created_at=row.created_at,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
        for row in rows
    ]
    return AuditEntries(total=total, page=page, page_size=page_size, results=results)


@router.get("/events/verify")
async def verify(operator: OperatorId, session: Session) -> dict[str, Any]:
    """Walk the chain from GENESIS; `{valid, entries_checked}` or the first broken entry."""
    return (await audit.verify(session)).report()
