"""ledger_record_all refuses a movement whose payee is not an active agent (ADR 0039)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-01

PostgreSQL only. A movement may name `payees`: agents it pays that must be active when it is
written. A transfer took its receiver's status from a read taken before its statement; the
statement checks it now, so a process that already knows the parties' accounts sends one
statement a transfer and reads nothing first. A movement with a payee that is not active is
answered `unpayable` and nothing of it is written; the others of its group are recorded as
before. Everything else is 0034's.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EACH_MOVEMENT = "        RETURN QUERY SELECT v_n, r.outcome, r.original_hash FROM ledger_record(v_movement) AS r;"
_PAYEES_CHECKED = """        -- The agents it pays must be active now, whatever was read before.
        PERFORM 1 FROM json_array_elements_text(v_movement->'payees') AS x(agent)
            WHERE NOT EXISTS (SELECT 1 FROM registered_agents g
                              WHERE g.id = CAST(x.agent AS uuid) AND g.status = 'active');
        IF FOUND THEN
            RETURN QUERY SELECT v_n, 'unpayable', NULL::text;
            CONTINUE;
        END IF;
"""


def _record_all() -> str:
    """0034's `ledger_record_all`, to be replaced."""
    path = Path(__file__).with_name("0034_ledger_record_all.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    record_all = str(module.LEDGER_RECORD_ALL)
    assert record_all.count(_EACH_MOVEMENT) == 1
    return record_all.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_record_all().replace(_EACH_MOVEMENT, _PAYEES_CHECKED + _EACH_MOVEMENT))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_record_all())
