"""ledger_record_all refuses a movement whose payee is not an active agent (ADR 0039)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-01

PostgreSQL only. A movement may name `payees`: agents it pays that must be active when it is
written. A transfer named its receiver's status from a read taken before its statement; the
statement checks it now, so a process that already knows the parties' accounts sends one
statement a transfer and reads nothing first. A movement with a payee that is not active is
answered `unpayable` and nothing of it is written; the others of its group are recorded as
before. Everything else is 0034's.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RECORD_ALL = """
CREATE OR REPLACE FUNCTION ledger_record_all(p json, accounts uuid[])
    RETURNS TABLE (n bigint, outcome text, original_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    v_movement json;
    v_n bigint;
BEGIN
    -- Every agent and creator account of the group (`accounts`: every account its legs and
    -- volumes name), locked in one order first.
    PERFORM 1 FROM ledger_accounts a
        WHERE a.owner_kind <> 'system' AND a.id = ANY (accounts)
        ORDER BY a.id
        FOR NO KEY UPDATE;

    FOR v_movement, v_n IN
        SELECT d.movement, d.n FROM json_array_elements(p) WITH ORDINALITY AS d(movement, n)
        ORDER BY d.n
    LOOP
%s        RETURN QUERY SELECT v_n, r.outcome, r.original_hash FROM ledger_record(v_movement) AS r;
    END LOOP;
END;
$$
"""

_PAYEES_CHECKED = """        -- The agents it pays must be active now, whatever was read before.
        PERFORM 1 FROM json_array_elements_text(v_movement->'payees') AS x(agent)
            WHERE NOT EXISTS (SELECT 1 FROM registered_agents g
                              WHERE g.id = CAST(x.agent AS uuid) AND g.status = 'active');
        IF FOUND THEN
            RETURN QUERY SELECT v_n, 'unpayable', NULL::text;
            CONTINUE;
        END IF;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_RECORD_ALL % _PAYEES_CHECKED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_RECORD_ALL % "")
