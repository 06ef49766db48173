"""ledger_record: a movement in one statement on PostgreSQL

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

The function takes the chain head, checks the idempotency key and every debit, moves the legs,
appends the chained entries, adds the lifetime volumes and advances the head (ADR 0015). Its one
argument is the prepared movement as a JSON document (domain/ledger/writes.py). The canonical
encoding of each entry arrives split around its sequence, so the encoding is defined once, in
domain/ledger/chain.py; the hash is SHA-256(prev_hash | before || sequence || after).
SQLite needs no function: its writers are serialized by BEGIN IMMEDIATE and run the same steps
from Python (domain/ledger/writes.py).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_RECORD = """
CREATE FUNCTION ledger_record(p json) RETURNS TABLE (outcome text, original_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    v_key text := p->>'key';
    v_movement uuid := (p->>'id')::uuid;
    v_created_at timestamptz := (p->>'created_at')::timestamptz;
    v_entry json;
    v_sequence bigint;
    v_hash text;
    v_prev text;
BEGIN
    -- A replayed key needs no lock.
    RETURN QUERY SELECT 'replayed', m.request_hash::text
        FROM ledger_movements m WHERE m.idempotency_key = v_key;
    IF FOUND THEN
        RETURN;
    END IF;

    SELECT h.last_sequence, h.last_hash INTO STRICT v_sequence, v_hash
        FROM ledger_chain_head h WHERE h.id = 1 FOR UPDATE;

    -- Each statement from here sees every movement committed before the head was ours, and no
    -- balance changes without the head: the checks below hold until the commit.
    RETURN QUERY SELECT 'replayed', m.request_hash::text
        FROM ledger_movements m WHERE m.idempotency_key = v_key;
    IF FOUND THEN
        RETURN;
    END IF;

    PERFORM 1
        FROM (SELECT e.source, sum(e.amount) AS total
              FROM json_to_recordset(p->'entries') AS e(source uuid, amount bigint)
              GROUP BY e.source) AS debit
        JOIN ledger_accounts a ON a.id = debit.source
        WHERE NOT a.allow_negative AND a.balance < debit.total;
    IF FOUND THEN
        RETURN QUERY SELECT 'insufficient', NULL::text;
        RETURN;
    END IF;

    INSERT INTO ledger_movements (
        id, idempotency_key, request_hash, tx_type, amount, fee_amount, burn_amount,
        reference_type, reference_id, memo, details, created_at
    ) VALUES (
        v_movement, v_key, p->>'request_hash', p->>'tx_type', (p->>'amount')::bigint,
        (p->>'fee_amount')::bigint, (p->>'burn_amount')::bigint, p->>'reference_type',
        p->>'reference_id', p->>'memo', p->'details', v_created_at
    );

    UPDATE ledger_accounts a SET balance = a.balance + change.delta
        FROM (SELECT l.account, sum(l.delta) AS delta
              FROM json_to_recordset(p->'entries')
                  AS e(source uuid, destination uuid, amount bigint),
              LATERAL (VALUES (e.source, -e.amount), (e.destination, e.amount))
                  AS l(account, delta)
              GROUP BY l.account) AS change
        WHERE a.id = change.account;

    FOR i IN 0 .. json_array_length(p->'entries') - 1 LOOP
        v_entry := p->'entries'->i;
        v_prev := v_hash;
        v_sequence := v_sequence + 1;
        v_hash := encode(sha256(convert_to(
            v_prev || '|' || (v_entry->>'before') || v_sequence::text || (v_entry->>'after'),
            'UTF8')), 'hex');
        INSERT INTO ledger_entries (
            sequence, id, movement_id, from_account_id, to_account_id, amount, tx_type,
            created_at, prev_hash, hash
        ) VALUES (
            v_sequence, (v_entry->>'id')::uuid, v_movement, (v_entry->>'source')::uuid,
            (v_entry->>'destination')::uuid, (v_entry->>'amount')::bigint, p->>'tx_type',
            v_created_at, v_prev, v_hash
        );
    END LOOP;

    UPDATE ledger_chain_head SET last_sequence = v_sequence, last_hash = v_hash WHERE id = 1;

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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_RECORD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_record")
