"""ledger and deposits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "ledger_accounts",
        sa.Column("owner_kind", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("balance", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column(
            "total_earned", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "total_spent", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "total_deposited", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "total_fees_paid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tier", sa.String(length=10), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "owner_kind IN ('agent', 'creator', 'system')",
            name=op.f("ck_ledger_accounts_owner_kind"),
        ),
        sa.CheckConstraint(
            "allow_negative OR balance >= 0", name=op.f("ck_ledger_accounts_balance_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint(
            "owner_kind", "owner_id", name=op.f("uq_ledger_accounts_owner_kind_owner_id")
        ),
    )
    op.create_table(
        "ledger_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "last_sequence", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_chain_head")),
    )
    op.create_table(
        "ledger_movements",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("tx_type", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "fee_amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "burn_amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reference_type", sa.String(length=32), nullable=True),
        sa.Column("reference_id", sa.String(length=64), nullable=True),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_movements")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_movements_idempotency_key")),
    )
    with op.batch_alter_table("ledger_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_movements_tx_type"), ["tx_type"], unique=False)

    op.create_table(
        "deposits",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fiat", sa.Numeric(precision=20, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "amount_units", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("payment_reference", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.String(length=80), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'expired')", name=op.f("ck_deposits_status")
        ),
        sa.CheckConstraint("amount_units > 0", name=op.f("ck_deposits_amount_positive")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["registered_agents.id"],
            name=op.f("fk_deposits_agent_id_registered_agents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposits")),
    )
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deposits_agent_id"), ["agent_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("movement_id", sa.Uuid(), nullable=False),
        sa.Column("from_account_id", sa.Uuid(), nullable=False),
        sa.Column("to_account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tx_type", sa.String(length=32), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_entries_amount_positive")),
        sa.CheckConstraint(
            "from_account_id <> to_account_id", name=op.f("ck_ledger_entries_distinct_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_entries_from_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["ledger_movements.id"],
            name=op.f("fk_ledger_entries_movement_id_ledger_movements"),
        ),
        sa.ForeignKeyConstraint(
            ["to_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_entries_to_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("id", name=op.f("uq_ledger_entries_id")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_from_sequence", ["from_account_id", "sequence"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_movement_id"), ["movement_id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_to_sequence", ["to_account_id", "sequence"], unique=False
        )

    op.create_table(
        "ledger_holds",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reference_type", sa.String(length=32), nullable=True),
        sa.Column("reference_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'posted', 'voided')", name=op.f("ck_ledger_holds_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_holds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_holds_idempotency_key")),
    )
    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_holds_account_status", ["account_id", "status"], unique=False
        )
    _seed_system_accounts_and_chain_head()


SYSTEM_ACCOUNTS = ("issuance", "treasury", "burn", "escrow", "payout_clearing", "paid_out")


def _seed_system_accounts_and_chain_head() -> None:
    accounts = sa.table(
        "ledger_accounts",
        sa.column("id", sa.Uuid()),
        sa.column("owner_kind", sa.String()),
        sa.column("owner_id", sa.String()),
        sa.column("balance", sa.BigInteger()),
        sa.column("allow_negative", sa.Boolean()),
        sa.column("total_earned", sa.BigInteger()),
        sa.column("total_spent", sa.BigInteger()),
        sa.column("total_deposited", sa.BigInteger()),
        sa.column("total_fees_paid", sa.BigInteger()),
        sa.column("tier", sa.String()),
        sa.column("created_at", models.base.UTCDateTime()),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        accounts,
        [
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"agentchains:system:{name}"),
                "owner_kind": "system",
                "owner_id": name,
                "balance": 0,
                "allow_negative": name == "issuance",
                "total_earned": 0,
                "total_spent": 0,
                "total_deposited": 0,
                "total_fees_paid": 0,
                "tier": "bronze",
                "created_at": now,
            }
            for name in SYSTEM_ACCOUNTS
        ],
    )
    head = sa.table(
        "ledger_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("last_sequence", sa.BigInteger()),
        sa.column("last_hash", sa.String()),
    )
    op.bulk_insert(head, [{"id": 1, "last_sequence": 0, "last_hash": "GENESIS"}])


def downgrade() -> None:

    with op.batch_alter_table("ledger_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_holds_account_status")

    op.drop_table("ledger_holds")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_to_sequence")
        batch_op.drop_index(batch_op.f("ix_ledger_entries_movement_id"))
        batch_op.drop_index("ix_ledger_entries_from_sequence")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("deposits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deposits_agent_id"))

    op.drop_table("deposits")
    with op.batch_alter_table("ledger_movements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_movements_tx_type"))

    op.drop_table("ledger_movements")
    op.drop_table("ledger_chain_head")
    op.drop_table("ledger_accounts")
