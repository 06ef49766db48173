"""ledger_record and ledger_seal read ledger_pending through its indexes only (ADR 0040)

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-01

PostgreSQL only. Every movement inserts a row into `ledger_pending` and its commit deletes it,
so between two vacuums the table is almost all dead rows: ~5 a page, a minute of transfers at a
few hundred a second is thousands of pages. Reading it by scanning them grew with every
movement since the last vacuum; a session plans the functions' statements once, while the
table is small, and a sequential scan stays its plan. The two functions now plan without
sequential scans: the seal's rows by `position`, the debit check's through an index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTIONS = ("ledger_record(json)", "ledger_seal()")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in _FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} SET enable_seqscan = off")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in _FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} RESET enable_seqscan")
