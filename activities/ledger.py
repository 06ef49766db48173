"""The scheduled audit: verify the ledger's and the audit log's hash chains and the supply
equation; a failure becomes an event for operators and an entry in the audit log."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import read_only, unit_of_work
from domain import audit, events, ledger
from workflows.contracts import ledger_audit as contract
from workflows.contracts.ledger_audit import AuditReport


@dataclass
class LedgerActivities:
    sessions: async_sessionmaker[AsyncSession]

    @implements(contract.AUDIT_LEDGER)
    async def audit(self) -> AuditReport:
        async with read_only(self.sessions, snapshot=True) as session:  # movements go on
            verdict = await ledger.verify(session)
            audit_chain = await audit.verify(session)
            supply = await ledger.supply(session)
        report = AuditReport(
            chain=verdict.report(),
            audit_chain=audit_chain.report(),
            supply={**supply.__dict__, "balanced": supply.balanced},
            valid=verdict.valid and audit_chain.valid and supply.balanced,
        )
        if not report.valid:
            activity.logger.error("ledger audit failed", extra={"report": report.model_dump()})
            async with unit_of_work(self.sessions) as session:
                events.emit(
                    session,
                    events.EventType.LEDGER_AUDIT_FAILED,
                    {"severity": "critical", **report.model_dump()},
                )
                await audit.record(
                    session,
                    audit.AuditEvent.LEDGER_AUDIT_FAILED,
                    actor=audit.SYSTEM,
                    details=report.model_dump(),
                )
        return report
