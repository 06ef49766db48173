"""The ledger audit (schedule `ledger-audit`): the ledger's and the audit log's hash chains and
the supply equation."""

from typing import Any

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow


class AuditReport(BaseModel):
    chain: dict[str, Any]  # the ledger's
    audit_chain: dict[str, Any]  # the audit log's
    supply: dict[str, Any]
    valid: bool


LEDGER_AUDIT = Workflow[None, AuditReport]("LedgerAuditWorkflow", AuditReport)

AUDIT_LEDGER = Activity[[], AuditReport](
    "ledger.audit", AuditReport, "Verify the hash chains and the supply equation"
)
