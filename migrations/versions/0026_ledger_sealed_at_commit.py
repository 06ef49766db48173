"""ledger_record locks only the accounts it moves; the chain is appended at commit

Revision ID: 0026
Revises: 0015
Create Date: 2026-11-30

PostgreSQL only (ADR 0028). `ledger_record` no longer takes the chain head: it locks the agents'
and creators' accounts of the movement in id order, checks the key and every debit, inserts the
movement, moves those accounts' balances and lifetime volumes, and leaves the movement's legs in
`ledger_pending`. A deferred constraint trigger on `ledger_pending` runs inside COMMIT: it takes
the head, appends the chained entries, moves the system accounts' balances (every movement
touches one of them, so they would be the next global lock) and deletes the pending row. The
head and the system rows are therefore held only while the commit itself runs, never across a
round trip to the client. SQLite keeps its step-by-step path (writers are serialized anyway).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0026"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = """
CREATE TABLE ledger_pending (
    movement_id uuid PRIMARY KEY REFERENCES ledger_movements (id),
    tx_type varchar(32) NOT NULL,
    created_at timestamptz NOT NULL,
    entries json NOT NULL
)
"""

# The change each leg makes to each account, from a JSON array of entries.
_DELTAS = """
    SELECT l.account, sum(l.delta) AS delta
    FROM json_to_recordset({entries}) AS e(source uuid, destination uuid, amount bigint),
        LATERAL (VALUES (e.source, -e.amount), (e.destination, e.amount)) AS l(account, delta)
    GROUP BY l.account
"""

LEDGER_RECORD = f"""
CREATE OR REPLACE FUNCTION ledger_record(p json) RETURNS TABLE (outcome text, original_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    v_key text := p->>'key';
    v_movement uuid := (p->>'id')::uuid;
    v_created_at timestamptz := (p->>'created_at')::timestamptz;
BEGIN
    -- A replayed key needs no lock.
    RETURN QUERY SELECT 'replayed', m.request_hash::text
        FROM ledger_movements m WHERE m.idempotency_key = v_key;
    IF FOUND THEN
        RETURN;
    END IF;

    -- The agents' and creators' accounts this movement changes, locked in one order so two
    -- movements never wait for each other in a circle. NO KEY UPDATE, as an UPDATE of the
    -- balance takes: the foreign keys of entries appended at commit do not wait for it.
    PERFORM 1 FROM ledger_accounts a
        WHERE a.owner_kind <> 'system' AND a.id IN (
            SELECT e.source FROM json_to_recordset(p->'entries') AS e(source uuid)
            UNION SELECT e.destination FROM json_to_recordset(p->'entries') AS e(destination uuid)
            UNION SELECT v.account FROM json_to_recordset(p->'volumes') AS v(account uuid))
        ORDER BY a.id
        FOR NO KEY UPDATE;

    -- Each statement from here sees every movement committed before those rows were ours.
    RETURN QUERY SELECT 'replayed', m.request_hash::text
        FROM ledger_movements m WHERE m.idempotency_key = v_key;
    IF FOUND THEN
        RETURN;
    END IF;

    -- Every debit, summed per account. A locked account's balance holds until the commit. A
    -- system account changes only at commit (ledger_seal): its balance here is the committed
    -- one plus what this transaction has pending, and the CHECK on balances, applied when
    -- ledger_seal moves it, refuses the commit of a movement that a concurrent one overtook.
    PERFORM 1
        FROM (SELECT e.source, sum(e.amount) AS total
              FROM json_to_recordset(p->'entries') AS e(source uuid, amount bigint)
              GROUP BY e.source) AS debit
        JOIN ledger_accounts a ON a.id = debit.source
        WHERE NOT a.allow_negative AND a.balance + CASE WHEN a.owner_kind = 'system' THEN
            coalesce((SELECT sum(d.delta) FROM ledger_pending q,
                      LATERAL ({_DELTAS.format(entries="q.entries")}) AS d
                      WHERE d.account = a.id), 0)
            ELSE 0 END < debit.total;
    IF FOUND THEN
        RETURN QUERY SELECT 'insufficient', NULL::text;
        RETURN;
    END IF;

    -- The same key in a transaction still open when we looked: wait for it; if it commits,
    -- this is its replay.
    INSERT INTO ledger_movements (
        id, idempotency_key, request_hash, tx_type, amount, fee_amount, burn_amount,
        reference_type, reference_id, memo, details, created_at
    ) VALUES (
        v_movement, v_key, p->>'request_hash', p->>'tx_type', (p->>'amount')::bigint,
        (p->>'fee_amount')::bigint, (p->>'burn_amount')::bigint, p->>'reference_type',
        p->>'reference_id', p->>'memo', p->'details', v_created_at
    ) ON CONFLICT (idempotency_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'replayed', m.request_hash::text
            FROM ledger_movements m WHERE m.idempotency_key = v_key;
        RETURN;
    END IF;

    UPDATE ledger_accounts a SET balance = a.balance + change.delta
        FROM ({_DELTAS.format(entries="p->'entries'")}) AS change
        WHERE a.id = change.account AND a.owner_kind <> 'system';

    INSERT INTO ledger_pending (movement_id, tx_type, created_at, entries)
        VALUES (v_movement, p->>'tx_type', v_created_at, p->'entries');

    UPDATE ledger_accounts a SET
            total_earned = a.total_earned + v.earned,
            total_spent = a.total_spent + v.spent,
            total_deposited = a.total_deposited + v.deposited,
            total_fees_paid = a.total_fees_paid + v.fees,
            tier = (SELECT t.name
                    FROM json_to_recordset(p->'tiers') AS t(name text, floor_units bigint)
                    WHERE t.floor_units <= a.total_earned + v.earned + a.total_spent + v.spent
                    ORDER BY t.floor_units DESC LIMIT 1)
        FROM json_to_recordset(p->'volumes')
            AS v(account uuid, earned bigint, spent bigint, deposited bigint, fees bigint)
        WHERE a.id = v.account;

    RETURN QUERY SELECT 'recorded', NULL::text;
END;
$$
"""

LEDGER_SEAL = f"""
CREATE FUNCTION ledger_seal() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_entry json;
    v_sequence bigint;
    v_hash text;
    v_prev text;
BEGIN
    -- Inside COMMIT: the head is held from here to the end of the commit, and only here.
    SELECT h.last_sequence, h.last_hash INTO STRICT v_sequence, v_hash
        FROM ledger_chain_head h WHERE h.id = 1 FOR UPDATE;

    FOR v_entry IN SELECT * FROM json_array_elements(NEW.entries) LOOP
        v_prev := v_hash;
        v_sequence := v_sequence + 1;
        v_hash := encode(sha256(convert_to(
            v_prev || '|' || (v_entry->>'before') || v_sequence::text || (v_entry->>'after'),
            'UTF8')), 'hex');
        INSERT INTO ledger_entries (
            sequence, id, movement_id, from_account_id, to_account_id, amount, tx_type,
            created_at, prev_hash, hash
        ) VALUES (
            v_sequence, (v_entry->>'id')::uuid, NEW.movement_id, (v_entry->>'source')::uuid,
            (v_entry->>'destination')::uuid, (v_entry->>'amount')::bigint, NEW.tx_type,
            NEW.created_at, v_prev, v_hash
        );
    END LOOP;

    UPDATE ledger_chain_head SET last_sequence = v_sequence, last_hash = v_hash WHERE id = 1;

    -- Only the head's holder changes a system account: these rows never make anyone wait.
    UPDATE ledger_accounts a SET balance = a.balance + change.delta
        FROM ({_DELTAS.format(entries="NEW.entries")}) AS change
        WHERE a.id = change.account AND a.owner_kind = 'system';

    DELETE FROM ledger_pending WHERE movement_id = NEW.movement_id;
    RETURN NULL;
END;
$$
"""

SEAL_AT_COMMIT = """
CREATE CONSTRAINT TRIGGER ledger_seal AFTER INSERT ON ledger_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_seal()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PENDING)
        op.execute(LEDGER_SEAL)
        op.execute(SEAL_AT_COMMIT)
        op.execute(LEDGER_RECORD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        path = Path(__file__).with_name("0008_ledger_record_function.py")
        spec = importlib.util.spec_from_file_location("ledger_record_0008", path)
        assert spec is not None and spec.loader is not None
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute("DROP TRIGGER ledger_seal ON ledger_pending")
        op.execute("DROP FUNCTION ledger_seal")
        op.execute("DROP TABLE ledger_pending")
        op.execute("DROP FUNCTION ledger_record")
        op.execute(previous.LEDGER_RECORD)
