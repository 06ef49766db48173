"""Movements: double-entry, idempotent by a business key, race-free.

Everything a movement needs is prepared first (ids, fingerprint, the entries' encodings); then one
write checks the key and every debit, moves the legs, appends the chained entries and adds the
lifetime volumes while it holds the chain head (domain/ledger/writes.py). Nothing else ever
changes a balance, so the check cannot go stale before the commit; the database CHECK on
balances is the backstop.
"""

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.util import identity_key

from core.clock import utcnow
from core.db import read_only
from core.errors import AppError, InvalidState, PaymentRequired, RuleViolation
from domain.ledger import chain, writes
from domain.ledger.accounts import System, Volume
from models.events import Event
from models.ledger import LedgerAccount, LedgerEntry, LedgerHold, LedgerMovement


class InsufficientCredits(PaymentRequired):
    code = "insufficient_credits"


class Repriced(InvalidState):
    code = "repriced"
    title = "The movement was priced at a tier its account has left"


class Unpayable(InvalidState):
    code = "unpayable"
    title = "The movement pays an agent that is not active"


class KeyReused(RuleViolation):
    code = "idempotency_key_reused"
    title = "Idempotency key reused with different terms"


@dataclass(frozen=True)
class Leg:
    source: uuid.UUID
    destination: uuid.UUID
    amount: int


@dataclass(frozen=True)
class Movement:
    """What to record: its legs, how it reads in a wallet's history, and what it adds to the
    accounts' lifetime figures (volumes follow from the terms, so they are not fingerprinted)."""

    tx_type: str
    legs: Sequence[Leg]
    amount: int
    fee_amount: int = 0
    burn_amount: int = 0
    reference_type: str | None = None
    reference_id: str | None = None
    memo: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    volumes: Sequence[Volume] = ()
    # What the caller asked for, when the legs are priced from state that the movement itself
    # changes (a fee at the tier it moves its account out of): then only this is fingerprinted,
    # so the same request retried after it was recorded replays instead of looking different.
    asked: dict[str, Any] | None = None

    def fingerprint(self) -> str:
        terms: dict[str, Any]
        if self.asked is not None:
            terms = {"tx_type": self.tx_type, "asked": self.asked}
        else:
            terms = {
                **{k: v for k, v in self.__dict__.items() if k not in ("legs", "volumes", "asked")},
                "legs": [(str(g.source), str(g.destination), g.amount) for g in self.legs],
            }
        return hashlib.sha256(json.dumps(terms, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    movement: LedgerMovement
    replayed: bool


@dataclass(frozen=True)
class Recording:
    """A movement to record under its key; `announce`: its outbox event, added in the same
    transaction only if the movement is recorded now (a replay announces nothing: the original
    did)."""

    key: str
    movement: Movement
    movement_id: uuid.UUID | None = None
    announce: Event | None = None
    expect: Sequence[tuple[uuid.UUID, str]] = ()  # (account, tier) it was priced at
    payees: Sequence[uuid.UUID] = ()  # agents it pays, which must be active when it is written


async def record(
    session: AsyncSession,
    key: str,
    movement: Movement,
    *,
    movement_id: uuid.UUID | None = None,
    announce: Event | None = None,
) -> Recorded:
    """Record the movement once; the same key again returns the original and changes nothing.
    What the session holds unwritten goes out first."""
    (outcome,) = await record_all(session, [Recording(key, movement, movement_id, announce)])
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def record_all(
    session: AsyncSession, recordings: Sequence[Recording]
) -> list[Recorded | AppError]:
    """Each movement once, in order, in one write. A refused one (not enough credits, its key
    reused with other terms) is its own outcome and does not stop the ones after it."""
    writings = _checked(recordings)
    if not writings:
        return []
    if session.new or session.dirty or session.deleted:
        await session.flush()
    written = await writes.write(session, writings)
    outcomes = await _outcomes(recordings, writings, written, lambda key: find(session, key))
    touched = {a for r, o in zip(recordings, outcomes, strict=True) if _new(o) for a in _moves(r)}
    await _refresh(session, touched)
    return outcomes


async def record_all_on(
    connection: psycopg.AsyncConnection[Any],
    sessions: async_sessionmaker[AsyncSession],
    recordings: Sequence[Recording],
) -> list[Recorded | AppError]:
    """`record_all` as one statement on a PostgreSQL connection of the caller's own, on which
    every statement is its own transaction (ADR 0041); a replayed key's original is read in a
    session of `sessions`."""
    writings = _checked(recordings)
    if not writings:
        return []
    written = await writes.write_on(connection, writings)

    async def original(key: str) -> LedgerMovement | None:
        async with read_only(sessions) as session:
            return await find(session, key)

    return await _outcomes(recordings, writings, written, original)


def _checked(recordings: Sequence[Recording]) -> list[writes.Writing]:
    for r in recordings:
        if any(leg.amount <= 0 for leg in r.movement.legs) or not r.movement.legs:
            raise ValueError("a movement needs legs with positive amounts")
    return [_prepared(r) for r in recordings]


async def _outcomes(
    recordings: Sequence[Recording],
    writings: Sequence[writes.Writing],
    written: Sequence[writes.Written],
    original: Callable[[str], Awaitable[LedgerMovement | None]],
) -> list[Recorded | AppError]:
    outcomes: list[Recorded | AppError] = []
    for r, w, done in zip(recordings, writings, written, strict=True):
        if done.outcome == "recorded":
            outcomes.append(Recorded(w.movement, replayed=False))
        elif done.outcome == "insufficient":
            outcomes.append(InsufficientCredits("Not enough available credits for this movement"))
        elif done.outcome == "repriced":
            outcomes.append(Repriced(f"Movement {r.key!r} was priced at a tier that has moved"))
        elif done.outcome == "unpayable":
            outcomes.append(Unpayable(f"Movement {r.key!r} pays an agent that is not active"))
        elif done.original_hash != w.movement.request_hash:
            outcomes.append(KeyReused(f"Movement {r.key!r} was recorded with different terms"))
        else:
            found = await original(r.key)
            assert found is not None, r.key
            outcomes.append(Recorded(found, replayed=True))
    return outcomes


def _new(outcome: Recorded | AppError) -> bool:
    return isinstance(outcome, Recorded) and not outcome.replayed


def _moves(r: Recording) -> set[uuid.UUID]:
    """The accounts whose figures the movement changes."""
    legs = {a for leg in r.movement.legs for a in (leg.source, leg.destination)}
    return legs | {v.account for v in r.movement.volumes}


def _prepared(r: Recording) -> writes.Writing:
    row = LedgerMovement(
        id=r.movement_id or uuid.uuid4(),
        idempotency_key=r.key,
        request_hash=r.movement.fingerprint(),
        tx_type=r.movement.tx_type,
        amount=r.movement.amount,
        fee_amount=r.movement.fee_amount,
        burn_amount=r.movement.burn_amount,
        reference_type=r.movement.reference_type,
        reference_id=r.movement.reference_id,
        memo=r.movement.memo,
        details=r.movement.details,
        created_at=utcnow(),
    )
    entries = [
        chain.Entry(
            uuid.uuid4(),
            row.id,
            leg.source,
            leg.destination,
            leg.amount,
            row.tx_type,
            row.created_at,
        )
        for leg in r.movement.legs
    ]
    return writes.Writing(row, entries, r.movement.volumes, r.announce, r.expect, r.payees)


async def _refresh(session: AsyncSession, account_ids: Iterable[uuid.UUID]) -> None:
    """Accounts this session already holds were changed by the write: reload their figures."""
    held = [a for a in account_ids if identity_key(LedgerAccount, a) in session.identity_map]
    if held:
        await session.execute(
            select(LedgerAccount)
            .where(LedgerAccount.id.in_(held))
            .execution_options(populate_existing=True)
        )


async def find(session: AsyncSession, key: str) -> LedgerMovement | None:
    """The movement recorded under this idempotency key, if any."""
    found: LedgerMovement | None = await session.scalar(
        select(LedgerMovement).where(LedgerMovement.idempotency_key == key)
    )
    return found


# Holds: two-phase movements through escrow.


async def hold(
    session: AsyncSession,
    key: str,
    account_id: uuid.UUID,
    amount: int,
    reference: tuple[str, str],
    into: System = System.ESCROW,
) -> LedgerHold:
    """Move `amount` into escrow (purchases) or payout clearing (redemptions), pending; it counts
    against the account's available balance."""
    recorded = await record(
        session,
        key,
        Movement(
            "hold",
            [Leg(account_id, into.id, amount)],
            amount,
            reference_type=reference[0],
            reference_id=reference[1],
        ),
    )
    if recorded.replayed:
        existing = await session.scalar(select(LedgerHold).where(LedgerHold.idempotency_key == key))
        assert existing is not None
        return existing
    placed = LedgerHold(
        idempotency_key=key,
        account_id=account_id,
        amount=amount,
        reference_type=reference[0],
        reference_id=reference[1],
    )
    session.add(placed)
    await session.flush()
    return placed


async def _resolve(
    session: AsyncSession, hold_key: str, to_status: str, key: str
) -> tuple[LedgerHold, Recorded | None]:
    """The pending hold, or the recorded resolution when this exact one already happened. The
    hold's row stays locked until the commit, so it resolves once however many try at once."""
    placed = await session.scalar(
        select(LedgerHold)
        .where(LedgerHold.idempotency_key == hold_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if placed is None:
        raise InvalidState(f"No hold {hold_key!r}")
    if placed.status == "pending":
        return placed, None
    done = await session.scalar(select(LedgerMovement).where(LedgerMovement.idempotency_key == key))
    if placed.status == to_status and done is not None:
        return placed, Recorded(done, replayed=True)
    raise InvalidState(f"Hold {hold_key!r} is already {placed.status}")


async def post(session: AsyncSession, hold_key: str, key: str, movement: Movement) -> Recorded:
    """Settle a pending hold: its escrowed amount leaves through `movement`'s legs, exactly once."""
    placed, replay = await _resolve(session, hold_key, "posted", key)
    if replay is not None:
        return replay
    if sum(leg.amount for leg in movement.legs) != placed.amount:
        raise ValueError("a posting must distribute exactly the held amount")
    recorded = await record(session, key, movement)
    placed.status, placed.resolved_at = "posted", utcnow()
    return recorded


async def void(session: AsyncSession, hold_key: str, key: str) -> Recorded:
    """Release a pending hold back to its account, exactly once."""
    placed, replay = await _resolve(session, hold_key, "voided", key)
    if replay is not None:
        return replay
    recorded = await record(
        session,
        key,
        Movement(
            "release",
            [Leg(await held_in(session, hold_key), placed.account_id, placed.amount)],
            placed.amount,
            reference_type=placed.reference_type,
            reference_id=placed.reference_id,
        ),
    )
    placed.status, placed.resolved_at = "voided", utcnow()
    return recorded


async def held_in(session: AsyncSession, hold_key: str) -> uuid.UUID:
    """The system account a hold moved its credits into."""
    into = await session.scalar(
        select(LedgerEntry.to_account_id)
        .join(LedgerMovement, LedgerEntry.movement_id == LedgerMovement.id)
        .where(LedgerMovement.idempotency_key == hold_key)
    )
    if into is None:  # placed by this transaction, whose entries are appended at its commit
        into = await writes.pending_destination(session, hold_key)
    assert into is not None, hold_key
    return into


async def held(session: AsyncSession, account_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerHold.amount), 0)).where(
            LedgerHold.account_id == account_id, LedgerHold.status == "pending"
        )
    )
    return int(total or 0)
