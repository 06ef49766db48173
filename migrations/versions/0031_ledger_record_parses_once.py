"""ledger_record reads its document parsed once (jsonb), not re-parsed at every field

Revision ID: 0031
Revises: 0025
Create Date: 2026-11-30

PostgreSQL only (ADR 0028). The same steps, locks and outcomes as 0026's `ledger_record`; the
movement document arrives as `json`, whose every `->` re-parses the whole text (a dozen times
per call, the entries' encodings included). It is converted to `jsonb` once and read from
there. The movement's `details` are still stored as sent.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0031"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The change each leg makes to each account.
_DELTAS = """
    SELECT l.account, sum(l.delta) AS delta
    FROM {to_recordset}({entries}) AS e(source uuid, destination uuid, amount bigint),
        LATERAL (VALUES (e.source, -e.amount), (e.destination, e.amount)) AS l(account, delta)
    GROUP BY l.account
"""
_PENDING_DELTAS = _DELTAS.format(to_recordset="json_to_recordset", entries="q.entries")
_OWN_DELTAS = _DELTAS.format(to_recordset="jsonb_to_recordset", entries="d->'entries'")

LEDGER_RECORD = f"""
CREATE OR REPLACE FUNCTION ledger_record(p json) RETURNS TABLE (outcome text, original_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    d jsonb := p::jsonb;
    v_key text := d->>'key';
    v_movement uuid := (d->>'id')::uuid;
    v_created_at timestamptz := (d->>'created_at')::timestamptz;
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
            SELECT e.source FROM jsonb_to_recordset(d->'entries') AS e(source uuid)
            UNION SELECT e.destination FROM jsonb_to_recordset(d->'entries') AS e(destination uuid)
            UNION SELECT v.account FROM jsonb_to_recordset(d->'volumes') AS v(account uuid))
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
              FROM jsonb_to_recordset(d->'entries') AS e(source uuid, amount bigint)
              GROUP BY e.source) AS debit
        JOIN ledger_accounts a ON a.id = debit.source
        WHERE NOT a.allow_negative AND a.balance + CASE WHEN a.owner_kind = 'system' THEN
            coalesce((SELECT sum(x.delta) FROM ledger_pending q,
                      LATERAL ({_PENDING_DELTAS}) AS x
                      WHERE x.account = a.id), 0)
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
        v_movement, v_key, d->>'request_hash', d->>'tx_type', (d->>'amount')::bigint,
        (d->>'fee_amount')::bigint, (d->>'burn_amount')::bigint, d->>'reference_type',
        d->>'reference_id', d->>'memo', p->'details', v_created_at
    ) ON CONFLICT (idempotency_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'replayed', m.request_hash::text
            FROM ledger_movements m WHERE m.idempotency_key = v_key;
        RETURN;
    END IF;

    UPDATE ledger_accounts a SET balance = a.balance + change.delta
        FROM ({_OWN_DELTAS}) AS change
        WHERE a.id = change.account AND a.owner_kind <> 'system';

    INSERT INTO ledger_pending (movement_id, tx_type, created_at, entries)
        VALUES (v_movement, d->>'tx_type', v_created_at, (d->'entries')::json);

    UPDATE ledger_accounts a SET
            total_earned = a.total_earned + v.earned,
            total_spent = a.total_spent + v.spent,
            total_deposited = a.total_deposited + v.deposited,
            total_fees_paid = a.total_fees_paid + v.fees,
            tier = (SELECT t.name
                    FROM jsonb_to_recordset(d->'tiers') AS t(name text, floor_units bigint)
                    WHERE t.floor_units <= a.total_earned + v.earned + a.total_spent + v.spent
                    ORDER BY t.floor_units DESC LIMIT 1)
        FROM jsonb_to_recordset(d->'volumes')
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
        path = Path(__file__).with_name("0026_ledger_sealed_at_commit.py")
        spec = importlib.util.spec_from_file_location("ledger_sealed_0026", path)
        assert spec is not None and spec.loader is not None
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        op.execute(previous.LEDGER_RECORD)
