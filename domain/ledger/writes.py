"""How a prepared movement reaches the database; the chain head is held only inside COMMIT.

PostgreSQL: one call of `ledger_record` (migrations 0026, 0031) locks the agents' and
creators' accounts of the movement in id order, checks the key and every debit, inserts the
movement, moves those balances and lifetime volumes, and leaves its legs pending; the same
statement can add the movement's outbox event if it was recorded. A deferred trigger runs
inside the commit: it takes the head, appends the chained entries, moves the system accounts
(treasury, burn, escrow, ...: every movement touches one) and clears the pending legs. So a
movement holds no global lock while its client works or talks to the server (ADR 0028). Ids,
the canonical encodings and the fingerprint are prepared here before it. SQLite: every
transaction is BEGIN IMMEDIATE, so the writer is already alone; the same steps, the chain
included, run as one function on the connection's own thread, in one hand-off (ADR 0032).
"""

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from sqlalchemy import Boolean, bindparam, case, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.hashchain import HEAD_ID
from core.money import UNITS_PER_ARD
from core.sqlite_driver import Prepared, on_thread
from domain.ledger import chain
from domain.ledger.accounts import TIERS, Volume
from models.agents import AgentStatus, RegisteredAgent
from models.events import Event
from models.ledger import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerMovement

Outcome = Literal["recorded", "replayed", "insufficient", "repriced", "unpayable"]
TIER_ROWS = [{"name": t.name, "floor_units": t.min_ard * UNITS_PER_ARD} for t in TIERS]


@dataclass(frozen=True)
class Written:
    outcome: Outcome
    original_hash: str | None = None  # a replayed key: the fingerprint it was recorded with


@dataclass(frozen=True)
class Writing:
    """One prepared movement: its row, its entries, what it adds to lifetime volumes, and its
    outbox event (added only if the movement is recorded now)."""

    movement: LedgerMovement
    entries: Sequence[chain.Entry]
    volumes: Sequence[Volume]
    announce: Event | None = None
    expect: Sequence[tuple[uuid.UUID, str]] = ()  # (account, tier) it was priced at
    payees: Sequence[uuid.UUID] = ()  # agents it pays, which must be active


async def write(session: AsyncSession, writings: Sequence[Writing]) -> list[Written]:
    """The movements in order, in one write; each has its own outcome."""
    if session.get_bind().dialect.name == "postgresql":
        return await _in_one_statement(session, writings)
    return await _on_sqlite(session, writings)


def _merged(volumes: Sequence[Volume]) -> list[Volume]:
    """One volume per account, so each account row is updated once."""
    merged: dict[object, Volume] = {}
    for v in volumes:
        was = merged.get(v.account, Volume(v.account))
        merged[v.account] = Volume(
            v.account,
            was.earned + v.earned,
            was.spent + v.spent,
            was.deposited + v.deposited,
            was.fees + v.fees,
        )
    return list(merged.values())


# `ledger_record` for each movement in turn, after locking all their accounts in one order
# (`ledger_record_all`, migrations 0034, 0036), and the outbox event of each movement recorded
# now: one round trip, and a transaction of its own when sent alone (ADR 0034). An event's txid
# and sequence come from their server defaults, as for any event. In the driver's own
# parameter style, sent as written: nothing to compile (ADR 0039).
_RECORD = (
    "WITH recorded AS MATERIALIZED ("
    " SELECT n, outcome, original_hash"
    " FROM ledger_record_all(CAST(%(movements)s AS json), CAST(%(accounts)s AS uuid[]))),"
    " announced AS (INSERT INTO events (id, type, audience, payload, created_at)"
    " SELECT CAST(a.event->>'id' AS uuid), a.event->>'type', a.event->'audience',"
    " a.event->'payload', CAST(a.event->>'created_at' AS timestamptz)"
    " FROM recorded JOIN json_array_elements(CAST(%(events)s AS json)) WITH ORDINALITY"
    " AS a(event, n) ON a.n = recorded.n"
    " WHERE recorded.outcome = 'recorded' AND json_typeof(a.event) = 'object')"
    " SELECT outcome, original_hash FROM recorded ORDER BY n"
)
_PENDING_DESTINATION = text(
    "SELECT CAST(e->>'destination' AS uuid) FROM ledger_movements m"
    " JOIN ledger_pending p ON p.movement_id = m.id,"
    " json_array_elements(p.entries) AS e WHERE m.idempotency_key = :key LIMIT 1"
)


async def pending_destination(session: AsyncSession, key: str) -> uuid.UUID | None:
    """Where the first leg of a movement this transaction recorded goes, before its commit has
    appended its entries (PostgreSQL; on SQLite entries are written at once)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    found: uuid.UUID | None = await session.scalar(_PENDING_DESTINATION, {"key": key})
    return found


async def _in_one_statement(session: AsyncSession, writings: Sequence[Writing]) -> list[Written]:
    rows = await (await session.connection()).exec_driver_sql(_RECORD, _parameters(writings))
    return [Written(*row) for row in rows]


async def write_on(
    connection: psycopg.AsyncConnection[Any], writings: Sequence[Writing]
) -> list[Written]:
    """`write` as one statement on a PostgreSQL connection of the caller's own, its own
    transaction: no session around it (ADR 0041)."""
    cursor = await connection.execute(_RECORD, _parameters(writings))
    return [Written(*row) for row in await cursor.fetchall()]


def _parameters(writings: Sequence[Writing]) -> dict[str, Any]:
    movements = [_document(w) for w in writings]
    events = [_event_document(w.announce) if w.announce else None for w in writings]
    accounts = {v.account for w in writings for v in w.volumes}
    for w in writings:
        accounts.update(a for e in w.entries for a in (e.from_account_id, e.to_account_id))
    return {
        "movements": json.dumps(movements),
        "events": json.dumps(events),
        "accounts": [*accounts],
    }


def _document(w: Writing) -> dict[str, Any]:
    m = w.movement
    return {
        "key": m.idempotency_key,
        "request_hash": m.request_hash,
        "id": str(m.id),
        "tx_type": m.tx_type,
        "amount": m.amount,
        "fee_amount": m.fee_amount,
        "burn_amount": m.burn_amount,
        "reference_type": m.reference_type,
        "reference_id": m.reference_id,
        "memo": m.memo,
        "details": m.details,
        "created_at": m.created_at.isoformat(),
        "entries": [
            {
                "id": str(e.id),
                "source": str(e.from_account_id),
                "destination": str(e.to_account_id),
                "amount": e.amount,
                **dict(zip(("before", "after"), chain.unsequenced(e), strict=True)),
            }
            for e in w.entries
        ],
        "volumes": [{**_volume_row(v), "account": str(v.account)} for v in _merged(w.volumes)],
        "tiers": TIER_ROWS,
        "expect": [{"account": str(a), "tier": tier} for a, tier in w.expect],
        "payees": [str(a) for a in w.payees],
    }


def _event_document(event: Event) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": str(event.type),
        "audience": event.audience,
        "payload": event.payload,
        "created_at": event.created_at.isoformat(),
    }


_accounts = LedgerAccount.metadata.tables["ledger_accounts"]
_entries = LedgerEntry.metadata.tables["ledger_entries"]
_movements = LedgerMovement.metadata.tables["ledger_movements"]
_head = LedgerChainHead.metadata.tables["ledger_chain_head"]
_events = Event.metadata.tables["events"]
_agents = RegisteredAgent.metadata.tables["registered_agents"]

_volume_after = (
    _accounts.c.total_earned + bindparam("earned") + _accounts.c.total_spent + bindparam("spent")
)
_tier = case(
    *[(_volume_after >= t.min_ard * UNITS_PER_ARD, t.name) for t in reversed(TIERS)],
    else_=TIERS[0].name,
)
# SQLite's steps, compiled once, run together on the connection's thread (`_on_sqlite`).
_ORIGINAL = Prepared.of(
    select(_movements.c.request_hash).where(_movements.c.idempotency_key == bindparam("key"))
)
_HEAD = Prepared.of(select(_head.c.last_sequence, _head.c.last_hash).where(_head.c.id == HEAD_ID))
_ACCOUNT = Prepared.of(  # what the checks read of an account
    select(_accounts.c.balance, _accounts.c.allow_negative, _accounts.c.tier).where(
        _accounts.c.id == bindparam("account", type_=_accounts.c.id.type)
    )
)
_PAYABLE = Prepared.of(  # a payee, if it is an active agent
    select(_agents.c.id).where(
        _agents.c.id == bindparam("agent", type_=_agents.c.id.type),
        _agents.c.status == AgentStatus.ACTIVE.value,
    )
)
_MOVE = Prepared.of(  # each account once: its balance, and its volumes and tier if it has any
    update(_accounts)
    .where(_accounts.c.id == bindparam("account", type_=_accounts.c.id.type))
    .values(
        balance=_accounts.c.balance + bindparam("delta"),
        total_earned=_accounts.c.total_earned + bindparam("earned"),
        total_spent=_accounts.c.total_spent + bindparam("spent"),
        total_deposited=_accounts.c.total_deposited + bindparam("deposited"),
        total_fees_paid=_accounts.c.total_fees_paid + bindparam("fees"),
        tier=case((bindparam("volume", type_=Boolean), _tier), else_=_accounts.c.tier),
    )
)
_ADVANCE = Prepared.of(
    update(_head)
    .where(_head.c.id == HEAD_ID)
    .values(last_sequence=bindparam("sequence"), last_hash=bindparam("hash"))
)


async def _on_sqlite(session: AsyncSession, writings: Sequence[Writing]) -> list[Written]:
    """Everything is prepared here; the checks and writes run on the connection's own thread
    in one hand-off (the writer is alone: every SQLite writer begins IMMEDIATE)."""
    steps = [_sqlite_step(w) for w in writings]
    return await on_thread(session, lambda db: [step(db) for step in steps])


def _sqlite_step(w: Writing) -> Callable[[sqlite3.Connection], Written]:
    m, entries, volumes, announce = w.movement, w.entries, _merged(w.volumes), w.announce
    debits: Counter[uuid.UUID] = Counter()
    for e in entries:
        debits[e.from_account_id] += e.amount
    key = _ORIGINAL.args({"key": m.idempotency_key})
    payees = [_PAYABLE.args({"agent": a}) for a in w.payees]
    expected = [(_ACCOUNT.args({"account": a}), tier) for a, tier in w.expect]
    balances = [(_ACCOUNT.args({"account": a}), amount) for a, amount in debits.items()]
    movement = _MOVEMENT.args({c: getattr(m, c) for c in _MOVEMENT_COLUMNS})
    moves = [_MOVE.args(row) for row in _account_rows(entries, volumes)]
    unsequenced = [chain.unsequenced(e) for e in entries]
    event = _EVENT.args({c: getattr(announce, c) for c in _EVENT_COLUMNS}) if announce else None

    def write(db: sqlite3.Connection) -> Written:
        if any(db.execute(_PAYABLE.sql, a).fetchone() is None for a in payees):
            return Written("unpayable")
        original = db.execute(_ORIGINAL.sql, key).fetchone()
        if original is not None:
            return Written("replayed", original[0])
        if any(db.execute(_ACCOUNT.sql, a).fetchone()[2] != tier for a, tier in expected):
            return Written("repriced")
        for account, amount in balances:
            found = db.execute(_ACCOUNT.sql, account).fetchone()
            if found is not None and not found[1] and found[0] < amount:
                return Written("insufficient")
        sequence, last_hash = db.execute(_HEAD.sql, _HEAD.args({})).fetchone()
        db.execute(_MOVEMENT.sql, movement)
        db.executemany(_MOVE.sql, moves)
        chained = []
        for e, (before, after) in zip(entries, unsequenced, strict=True):
            sequence, prev_hash = sequence + 1, last_hash
            last_hash = chain.link(prev_hash, sequence, before, after)
            chained.append(_ENTRY.args(_entry_row(m, e, sequence, prev_hash, last_hash)))
        db.executemany(_ENTRY.sql, chained)
        db.execute(_ADVANCE.sql, _ADVANCE.args({"sequence": sequence, "hash": last_hash}))
        if event is not None:
            db.execute(_EVENT.sql, event)
        return Written("recorded")

    return write


def _entry_row(
    m: LedgerMovement, e: chain.Entry, sequence: int, prev_hash: str, hash_: str
) -> dict[str, object]:
    return {
        "sequence": sequence,
        "id": e.id,
        "movement_id": m.id,
        "from_account_id": e.from_account_id,
        "to_account_id": e.to_account_id,
        "amount": e.amount,
        "tx_type": m.tx_type,
        "created_at": m.created_at,
        "prev_hash": prev_hash,
        "hash": hash_,
    }


_MOVEMENT_COLUMNS = (
    "id",
    "idempotency_key",
    "request_hash",
    "tx_type",
    "amount",
    "fee_amount",
    "burn_amount",
    "reference_type",
    "reference_id",
    "memo",
    "details",
    "created_at",
)
_EVENT_COLUMNS = ("id", "type", "audience", "payload", "created_at")
_ENTRY_COLUMNS = (
    "sequence",
    "id",
    "movement_id",
    "from_account_id",
    "to_account_id",
    "amount",
    "tx_type",
    "created_at",
    "prev_hash",
    "hash",
)
_MOVEMENT = Prepared.inserting(_movements, _MOVEMENT_COLUMNS)
_ENTRY = Prepared.inserting(_entries, _ENTRY_COLUMNS)
_EVENT = Prepared.inserting(_events, _EVENT_COLUMNS)


def _account_rows(
    entries: Sequence[chain.Entry], volumes: Sequence[Volume]
) -> list[dict[str, object]]:
    deltas: Counter[uuid.UUID] = Counter()
    for e in entries:
        deltas[e.from_account_id] -= e.amount
        deltas[e.to_account_id] += e.amount
    moved = {v.account: v for v in volumes}
    return [
        {**_volume_row(moved.get(a, Volume(a))), "delta": deltas[a], "volume": a in moved}
        for a in deltas.keys() | moved.keys()
    ]


def _volume_row(v: Volume) -> dict[str, object]:
    return {
        "account": v.account,
        "earned": v.earned,
        "spent": v.spent,
        "deposited": v.deposited,
        "fees": v.fees,
    }
