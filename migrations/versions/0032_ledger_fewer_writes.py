"""ledger_record moves each account in one UPDATE; ledger_seal appends a movement's entries in one INSERT

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-30

PostgreSQL only (ADR 0028). The same steps, locks, checks and outcomes as 0031's `ledger_record`
and 0026's `ledger_seal`, with fewer writes: an account's balance and its lifetime volumes and
tier were two UPDATEs of the same row (two new row versions); they are one. The seal linked the
entries one `INSERT` at a time; it links them first and appends them in one `INSERT`.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _previous(name: str) -> ModuleType:
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Each account once: the legs' change to its balance (not a system account's: those move at
# commit, in ledger_seal), and its volumes and tier if the movement has any for it.
_ONE_UPDATE = """
    UPDATE ledger_accounts a SET
            balance = a.balance
                + CASE WHEN a.owner_kind = 'system' THEN 0 ELSE coalesce(x.delta, 0) END,
            total_earned = a.total_earned + coalesce(x.earned, 0),
            total_spent = a.total_spent + coalesce(x.spent, 0),
            total_deposited = a.total_deposited + coalesce(x.deposited, 0),
            total_fees_paid = a.total_fees_paid + coalesce(x.fees, 0),
            tier = CASE WHEN x.earned IS NULL THEN a.tier ELSE
                   (SELECT t.name
                    FROM jsonb_to_recordset(d->'tiers') AS t(name text, floor_units bigint)
                    WHERE t.floor_units <= a.total_earned + x.earned + a.total_spent + x.spent
                    ORDER BY t.floor_units DESC LIMIT 1) END
        FROM (SELECT coalesce(change.account, v.account) AS account, change.delta,
                     v.earned, v.spent, v.deposited, v.fees
              FROM ({own_deltas}) AS change
              FULL JOIN jsonb_to_recordset(d->'volumes')
                  AS v(account uuid, earned bigint, spent bigint, deposited bigint, fees bigint)
                  ON v.account = change.account) AS x
        WHERE a.id = x.account AND (a.owner_kind <> 'system' OR x.earned IS NOT NULL);

    INSERT INTO ledger_pending (movement_id, tx_type, created_at, entries)
        VALUES (v_movement, d->>'tx_type', v_created_at, (d->'entries')::json);
"""

# Linked first (each hash needs the one before), appended in one INSERT.
_LINKED_THEN_ONE_INSERT = """
    v_first := v_sequence + 1;
    FOR v_entry IN SELECT * FROM json_array_elements(NEW.entries) LOOP
        v_prevs := v_prevs || v_hash;
        v_sequence := v_sequence + 1;
        v_hash := encode(sha256(convert_to(
            v_hash || '|' || (v_entry->>'before') || v_sequence::text || (v_entry->>'after'),
            'UTF8')), 'hex');
        v_hashes := v_hashes || v_hash;
    END LOOP;

    INSERT INTO ledger_entries (
        sequence, id, movement_id, from_account_id, to_account_id, amount, tx_type,
        created_at, prev_hash, hash
    )
    SELECT v_first + e.n - 1, (e.entry->>'id')::uuid, NEW.movement_id,
           (e.entry->>'source')::uuid, (e.entry->>'destination')::uuid,
           (e.entry->>'amount')::bigint, NEW.tx_type, NEW.created_at,
           v_prevs[e.n], v_hashes[e.n]
    FROM json_array_elements(NEW.entries) WITH ORDINALITY AS e(entry, n);
"""


def _between(text: str, first: str, last: str, replacement: str) -> str:
    """`text` with the part from the line starting `first` to the end of the line starting
    `last` (the first such after it) replaced."""
    start = text.index(first)
    end = text.index("\n", text.index(last, start)) + 1
    return text[:start] + replacement + text[end:]


def _record(previous: ModuleType) -> str:
    return _between(
        previous.LEDGER_RECORD,
        "    UPDATE ledger_accounts a SET balance = a.balance + change.delta",
        "        WHERE a.id = v.account;",
        _ONE_UPDATE.format(own_deltas=previous._OWN_DELTAS).lstrip("\n"),
    )


def _seal(previous: ModuleType) -> str:
    sealed = _between(
        previous.LEDGER_SEAL,
        "    FOR v_entry IN SELECT * FROM json_array_elements(NEW.entries) LOOP",
        "    END LOOP;",
        _LINKED_THEN_ONE_INSERT.lstrip("\n"),
    )
    sealed = sealed.replace(
        "    v_prev text;\n",
        "    v_first bigint;\n    v_prevs text[] := '{}';\n    v_hashes text[] := '{}';\n",
    )
    return sealed.replace("CREATE FUNCTION ledger_seal()", "CREATE OR REPLACE FUNCTION ledger_seal()")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_record(_previous("0031_ledger_record_parses_once.py")))
        op.execute(_seal(_previous("0026_ledger_sealed_at_commit.py")))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_previous("0031_ledger_record_parses_once.py").LEDGER_RECORD)
        sealed = _previous("0026_ledger_sealed_at_commit.py").LEDGER_SEAL
        op.execute(sealed.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
