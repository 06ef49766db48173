"""ledger_seal appends every movement of its transaction at once

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-30

PostgreSQL only (ADR 0028, ADR 0034). The deferred trigger still fires once per pending movement
inside COMMIT, in the order they were recorded; its first firing now seals that movement and every
later one of its transaction (`ledger_pending.position`, increasing): one hold of the head, one
INSERT of every entry, one UPDATE of the head and of each system account. The later firings find
their movement sealed. Every pending row a transaction can see is its own (each commit empties its
own, in the same trigger), so the rows from its position on are exactly this transaction's. The
chain's hashes are the same function of the same fields as before.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_SEAL = """
CREATE OR REPLACE FUNCTION ledger_seal() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_sequence bigint;
    v_hash text;
    v_first bigint;
    v_entry record;
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
BEGIN
    PERFORM 1 FROM ledger_pending WHERE movement_id = NEW.movement_id;
    IF NOT FOUND THEN
        RETURN NULL;  -- sealed by an earlier firing in this commit
    END IF;

    -- Inside COMMIT: the head is held from here to the end of the commit, and only here.
    SELECT h.last_sequence, h.last_hash INTO STRICT v_sequence, v_hash
        FROM ledger_chain_head h WHERE h.id = 1 FOR UPDATE;

    -- Linked first (each hash needs the one before), appended in one INSERT.
    v_first := v_sequence + 1;
    FOR v_entry IN
        SELECT e.entry FROM ledger_pending p,
            json_array_elements(p.entries) WITH ORDINALITY AS e(entry, n)
        WHERE p.position >= NEW.position
        ORDER BY p.position, e.n
    LOOP
        v_prevs := v_prevs || v_hash;
        v_sequence := v_sequence + 1;
        v_hash := encode(sha256(convert_to(
            v_hash || '|' || (v_entry.entry->>'before') || v_sequence::text
                || (v_entry.entry->>'after'),
            'UTF8')), 'hex');
        v_hashes := v_hashes || v_hash;
    END LOOP;

    INSERT INTO ledger_entries (
        sequence, id, movement_id, from_account_id, to_account_id, amount, tx_type,
        created_at, prev_hash, hash
    )
    SELECT v_first + e.n - 1, (e.entry->>'id')::uuid, e.movement_id,
           (e.entry->>'source')::uuid, (e.entry->>'destination')::uuid,
           (e.entry->>'amount')::bigint, e.tx_type, e.created_at,
           v_prevs[e.n], v_hashes[e.n]
    FROM (SELECT x.entry, p.movement_id, p.tx_type, p.created_at,
                 row_number() OVER (ORDER BY p.position, x.n) AS n
          FROM ledger_pending p,
              json_array_elements(p.entries) WITH ORDINALITY AS x(entry, n)
          WHERE p.position >= NEW.position) AS e;

    UPDATE ledger_chain_head SET last_sequence = v_sequence, last_hash = v_hash WHERE id = 1;

    -- Only the head's holder changes a system account: these rows never make anyone wait.
    UPDATE ledger_accounts a SET balance = a.balance + change.delta
        FROM (SELECT l.account, sum(l.delta) AS delta
              FROM ledger_pending p,
                  json_to_recordset(p.entries) AS e(source uuid, destination uuid, amount bigint),
                  LATERAL (VALUES (e.source, -e.amount), (e.destination, e.amount))
                      AS l(account, delta)
              WHERE p.position >= NEW.position
              GROUP BY l.account) AS change
        WHERE a.id = change.account AND a.owner_kind = 'system';

    DELETE FROM ledger_pending WHERE position >= NEW.position;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_pending ADD COLUMN position bigint GENERATED ALWAYS AS IDENTITY")
        op.execute("CREATE UNIQUE INDEX ledger_pending_position ON ledger_pending (position)")
        op.execute(LEDGER_SEAL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        import importlib.util
        from pathlib import Path

        path = Path(__file__).with_name("0032_ledger_fewer_writes.py")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute(previous._seal(previous._previous("0026_ledger_sealed_at_commit.py")))
        op.execute("ALTER TABLE ledger_pending DROP COLUMN position")
