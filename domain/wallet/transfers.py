"""Transfers between agents: the sender pays the fee (discounted by tier); half of it burns.

On PostgreSQL a process's transfers are written in groups (`Transfers`, ADR 0034): the transfers
that arrive while one group is being written become the next. A group is one statement that
records every movement (its own transaction). A process keeps the agents' accounts it has read
(an account's id never changes) and the tier it last saw each at (ADR 0039): each fee is priced
at that tier, and the write refuses a movement whose sender is no longer at it (`Repriced`); the
account is read again and the transfer priced again. The write also refuses to pay an agent
that is not active (`Unpayable`), so nothing about the receiver is read first.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import psycopg
from sqlalchemy import bindparam, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, own_connection, session_factory
from core.errors import AppError, RuleViolation
from core.grouped import Grouped
from core.ids import parse_id
from core.settings import Settings
from domain import agents, events, ledger
from domain.ledger.accounts import AccountNotFound, tier_named
from models.ledger import LedgerAccount, LedgerMovement

AGENT = "agent"


class SelfTransfer(RuleViolation):
    code = "self_transfer"


@dataclass(frozen=True)
class Transfer:
    sender_id: uuid.UUID
    receiver_id: str
    amount: int
    memo: str
    key: str


class Transfers:
    """Where a process sends its transfers. On PostgreSQL they are written in groups, on a
    connection of their own whose every statement is its own transaction; on SQLite, whose
    writer is alone in its process anyway (ADR 0033), in the caller's unit of work."""

    def __init__(self, settings: Settings, most: int = 64):
        self._settings = settings
        self._known = Known()
        self._engine = None
        self._connection: psycopg.AsyncConnection[Any] | None = None
        if make_url(settings.database_url).get_backend_name() == "postgresql":
            self._engine = create_engine(
                settings.database_url, pool_size=1, max_overflow=0, autocommit=True
            )
            self._sessions = session_factory(self._engine)
        self._groups: Grouped[Transfer, LedgerMovement] = Grouped(self._write, most)

    async def send(self, one: Transfer, session: AsyncSession) -> LedgerMovement:
        """`one` written and committed; `session`: the caller's unit of work, where it is written
        on SQLite."""
        if self._engine is not None:
            return await self._groups(one)
        return await transfer(session, self._settings, one, self._known)

    async def _write(self, group: Sequence[Transfer]) -> list[LedgerMovement | AppError]:
        """The group on the desk's connection; if that connection turns out lost, the group again
        on a new one (a movement it did record answers as a replay of its key)."""
        try:
            return await self._write_on_connection(group)
        except psycopg.OperationalError:
            if self._connection is None or not self._connection.closed:
                raise
            return await self._write_on_connection(group)

    async def _write_on_connection(
        self, group: Sequence[Transfer]
    ) -> list[LedgerMovement | AppError]:
        if self._connection is None or self._connection.closed:
            self._connection = await own_connection(self._settings.database_url)
        books = _OnConnection(self._connection, self._sessions)
        return await _transfer_all(books, self._settings, group, self._known)

    async def close(self) -> None:
        await self._groups.close()
        if self._connection is not None:
            await self._connection.close()
        if self._engine is not None:
            await self._engine.dispose()


class _Account(NamedTuple):
    id: uuid.UUID
    owner_id: str
    tier: str  # as last read: the write checks it still is


class Known(dict[uuid.UUID, _Account]):
    """The agents' accounts a process has read, by owner."""

    MOST = 100_000

    def learn(self, accounts: dict[uuid.UUID, _Account]) -> None:
        if len(self) + len(accounts) > self.MOST:
            self.clear()
        self.update(accounts)


async def transfer(
    session: AsyncSession, settings: Settings, one: Transfer, known: Known | None = None
) -> LedgerMovement:
    """One transfer in the caller's unit of work."""
    (outcome,) = await transfer_all(session, settings, [one], known)
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


async def transfer_all(
    session: AsyncSession,
    settings: Settings,
    transfers: Sequence[Transfer],
    known: Known | None = None,
) -> list[LedgerMovement | AppError]:
    """Each transfer once, as if one after another; a refused one is its own outcome. A transfer
    whose agent an earlier one moves waits for the next round: its fee is priced at the tier that
    earlier one leaves. `known`: the accounts already read, kept up to date here."""
    return await _transfer_all(_InSession(session), settings, transfers, known)


async def _transfer_all(
    books: "_Books", settings: Settings, transfers: Sequence[Transfer], known: Known | None
) -> list[LedgerMovement | AppError]:
    known = Known() if known is None else known
    outcomes: list[LedgerMovement | AppError | None] = [None] * len(transfers)
    waiting: Waiting = []
    for n, t in enumerate(transfers):
        receiver = parse_id(t.receiver_id)
        if receiver == t.sender_id:
            outcomes[n] = SelfTransfer("An agent cannot transfer credits to itself")
        elif receiver is None:
            outcomes[n] = agents.AgentNotFound(f"Agent {t.receiver_id} not found")
        else:
            waiting.append((n, receiver))
    while waiting:  # a tier only rises: a transfer is repriced at most once per tier
        now, later = _round(transfers, waiting)
        receivers = dict(now)
        again: Waiting = []
        for n, outcome in await _write_round(books, settings, transfers, now, known):
            if isinstance(outcome, ledger.Repriced):
                known.pop(transfers[n].sender_id, None)
                again.append((n, receivers[n]))
            else:
                outcomes[n] = outcome
        waiting = sorted([*again, *later], key=lambda w: w[0])
    return [o for o in outcomes if o is not None]


Waiting = list[tuple[int, uuid.UUID]]  # a transfer's place in its group, and its receiver


def _round(transfers: Sequence[Transfer], waiting: Waiting) -> tuple[Waiting, Waiting]:
    """The transfers whose agents no earlier waiting transfer moves, and the rest."""
    now: Waiting = []
    later: Waiting = []
    moved: set[uuid.UUID] = set()
    for n, receiver in waiting:
        agents_moved = {transfers[n].sender_id, receiver}
        (later if agents_moved & moved else now).append((n, receiver))
        moved |= agents_moved
    return now, later


async def _write_round(
    books: "_Books",
    settings: Settings,
    transfers: Sequence[Transfer],
    now: Waiting,
    known: Known,
) -> list[tuple[int, LedgerMovement | AppError]]:
    owners = {transfers[n].sender_id for n, _ in now} | {r for _, r in now}
    accounts = await _accounts(books, owners, known)
    outcomes: list[tuple[int, LedgerMovement | AppError]] = []
    recordings, recorded = [], []
    for n, receiver in now:
        t = transfers[n]
        sender = accounts.get(t.sender_id)
        if receiver not in accounts:
            outcomes.append((n, agents.AgentNotFound(f"Agent {receiver} not found")))
        elif sender is None:
            outcomes.append((n, AccountNotFound(f"No agent account for {t.sender_id}")))
        else:
            recordings.append(_recording(settings, t, sender, accounts[receiver]))
            recorded.append(n)
    for n, outcome in zip(recorded, await books.record_all(recordings), strict=True):
        if isinstance(outcome, ledger.Unpayable):
            outcome = agents.AgentNotFound(f"Agent {transfers[n].receiver_id} not found")
        outcomes.append((n, outcome if isinstance(outcome, AppError) else outcome.movement))
    return outcomes


def _recording(
    settings: Settings, t: Transfer, sender: "_Account", receiver: "_Account"
) -> ledger.Recording:
    """The transfer's movement, priced at the sender's tier as read (the write checks it still
    is; the volume below moves the tier in the same write), and its announcement."""
    fees = ledger.split(
        t.amount,
        settings.token_platform_fee_pct,
        settings.token_burn_pct,
        tier_named(sender.tier).discount,
    )
    legs = [
        ledger.Leg(sender.id, receiver.id, fees.receiver),
        ledger.Leg(sender.id, ledger.System.TREASURY.id, fees.treasury),
        ledger.Leg(sender.id, ledger.System.BURN.id, fees.burned),
    ]
    movement_id = uuid.uuid4()
    announced = events.announcement(
        events.EventType.TOKEN_TRANSFER,
        {
            "movement_id": str(movement_id),
            "from_agent_id": str(t.sender_id),
            "to_agent_id": receiver.owner_id,
            "amount_units": t.amount,
            "fee_units": fees.fee,
            "burn_units": fees.burned,
        },
        audience=[t.sender_id, receiver.owner_id],
    )
    movement = ledger.Movement(
        "transfer",
        [leg for leg in legs if leg.amount],
        t.amount,
        fee_amount=fees.fee,
        burn_amount=fees.burned,
        reference_type="agent",
        reference_id=receiver.owner_id,
        memo=t.memo,
        asked={
            "from": str(t.sender_id),
            "to": receiver.owner_id,
            "amount": t.amount,
            "memo": t.memo,
        },
        volumes=[
            ledger.Volume(sender.id, spent=t.amount, fees=fees.fee),
            ledger.Volume(receiver.id, earned=fees.receiver),
        ],
    )
    return ledger.Recording(
        t.key,
        movement,
        movement_id,
        announced,
        [(sender.id, sender.tier)],
        [uuid.UUID(receiver.owner_id)],
    )


class _Books(Protocol):
    """Where a round of transfers reads its agents' accounts and records its movements."""

    async def accounts(self, owners: list[str]) -> Sequence[Any]:
        """(id, owner_id, tier) of each of these owners' agent accounts."""
        ...

    async def record_all(
        self, recordings: Sequence[ledger.Recording]
    ) -> list[ledger.Recorded | AppError]: ...


@dataclass(frozen=True)
class _InSession:
    """The caller's unit of work."""

    session: AsyncSession

    async def accounts(self, owners: list[str]) -> Sequence[Any]:
        return (await self.session.execute(_ACCOUNTS, {"owners": owners})).all()

    async def record_all(
        self, recordings: Sequence[ledger.Recording]
    ) -> list[ledger.Recorded | AppError]:
        return await ledger.record_all(self.session, recordings)


@dataclass(frozen=True)
class _OnConnection:
    """A PostgreSQL connection of the desk's own, every statement its own transaction: no
    session's machinery around a group's one statement (ADR 0041). A replayed transfer's
    original is read in a session of `sessions`."""

    connection: psycopg.AsyncConnection[Any]
    sessions: async_sessionmaker[AsyncSession]

    async def accounts(self, owners: list[str]) -> Sequence[Any]:
        cursor = await self.connection.execute(_ACCOUNTS_BY_DRIVER, [owners])
        return await cursor.fetchall()

    async def record_all(
        self, recordings: Sequence[ledger.Recording]
    ) -> list[ledger.Recorded | AppError]:
        return await ledger.record_all_on(self.connection, self.sessions, recordings)


# The agents' accounts, by owner: one query built once, and as the driver takes it.
_ACCOUNTS = select(LedgerAccount.id, LedgerAccount.owner_id, LedgerAccount.tier).where(
    LedgerAccount.owner_kind == AGENT,
    LedgerAccount.owner_id.in_(bindparam("owners", expanding=True)),
)
_ACCOUNTS_BY_DRIVER = (
    "SELECT id, owner_id, tier FROM ledger_accounts"
    f" WHERE owner_kind = '{AGENT}' AND owner_id = ANY(%s)"
)


async def _accounts(
    books: _Books, owners: set[uuid.UUID], known: Known
) -> dict[uuid.UUID, _Account]:
    """The owners' accounts, read only for those not known yet."""
    missing = [str(o) for o in owners if o not in known]
    if missing:
        rows = await books.accounts(missing)
        known.learn({uuid.UUID(owner): _Account(id_, owner, tier) for id_, owner, tier in rows})
    return {o: known[o] for o in owners if o in known}
