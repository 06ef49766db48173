"""ledger_record refuses a movement priced at a tier its account has left; ledger_record_all

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-30

PostgreSQL only (ADR 0034). A transfer's fee is priced at its sender's tier, read before the
movement's statement; the statement can run on its own (its own transaction, no `BEGIN` or
`COMMIT` round trip) because `ledger_record` now checks, under the accounts' locks, the tiers the
movement says it was priced at (`expect`), and answers `repriced` (writing nothing) if one has
moved. `ledger_record_all` records a group of movements in order in one call, after locking
every agent and creator account of the group in one order, so two groups never wait for each
other in a circle; it is now the only caller of `ledger_record`, which no longer takes locks of
its own. `ledger_pending` loses its foreign key (see `upgrade`). Everything else is 0032's.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ledger_record_all takes the locks for the whole group first: a movement's own replay check
# before them and its own locks go.
_OWN_LOCKS_FIRST = "    -- A replayed key needs no lock."
_OWN_LOCKS_LAST = "        FOR NO KEY UPDATE;"
_LOCKS_HELD = """    -- The caller, ledger_record_all, holds the agents' and creators' accounts of the movement.

"""
_BEFORE_DEBITS = "    -- Every debit, summed per account."
_EXPECTED_TIERS = """    -- Priced at a tier (a transfer's fee) from a read taken before these locks: if the tier has
    -- moved since, nothing is written and the caller prices again.
    PERFORM 1
        FROM jsonb_to_recordset(coalesce(d->'expect', '[]'::jsonb)) AS x(account uuid, tier text)
        JOIN ledger_accounts a ON a.id = x.account
        WHERE a.tier <> x.tier;
    IF FOUND THEN
        RETURN QUERY SELECT 'repriced', NULL::text;
        RETURN;
    END IF;

"""

LEDGER_RECORD_ALL = """
CREATE FUNCTION ledger_record_all(p json, accounts uuid[])
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
        RETURN QUERY SELECT v_n, r.outcome, r.original_hash FROM ledger_record(v_movement) AS r;
    END LOOP;
END;
$$
"""


def _load(name: str) -> ModuleType:
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _previous_record() -> str:
    fewer_writes = _load("0032_ledger_fewer_writes.py")
    return str(fewer_writes._record(fewer_writes._previous("0031_ledger_record_parses_once.py")))


def _record() -> str:
    record = _previous_record()
    start = record.index(_OWN_LOCKS_FIRST)
    end = record.index("\n\n", record.index(_OWN_LOCKS_LAST, start)) + 2
    record = record[:start] + _LOCKS_HELD + record[end:]
    assert record.count(_BEFORE_DEBITS) == 1
    return record.replace(_BEFORE_DEBITS, _EXPECTED_TIERS + _BEFORE_DEBITS)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_record())
        op.execute(LEDGER_RECORD_ALL)
        # A pending row lives inside its movement's transaction, written right after the
        # movement by the same call and deleted by the same commit: the key only cost a lock.
        op.execute("ALTER TABLE ledger_pending DROP CONSTRAINT ledger_pending_movement_id_fkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE ledger_pending ADD CONSTRAINT ledger_pending_movement_id_fkey"
            " FOREIGN KEY (movement_id) REFERENCES ledger_movements (id)"
        )
        op.execute("DROP FUNCTION ledger_record_all(json, uuid[])")
        op.execute(_previous_record())
