"""One write per movement, on PostgreSQL (the `ledger_record` function) and on SQLite (the same
steps from Python): all of it or nothing, once per key, volumes and tier in the same write."""

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import unit_of_work
from core.money import UNITS_PER_ARD
from core.settings import Settings
from domain import agents, events, ledger
from domain.wallet import transfers
from models.events import Event
from models.ledger import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerMovement
from tests.ledger_helpers import assert_invariants, mint

Sessions = async_sessionmaker[AsyncSession]


async def _account(sessions: Sessions, units: int = 0) -> uuid.UUID:
    owner = uuid.uuid4()
    async with unit_of_work(sessions) as session:
        account = await ledger.open_account(session, "creator", owner)
        account_id = account.id
    if units:
        await mint(sessions, owner, units, owner_kind="creator")
    return account_id


async def _figures(sessions: Sessions, account_id: uuid.UUID) -> LedgerAccount:
    async with unit_of_work(sessions) as session:
        account = await session.get(LedgerAccount, account_id)
        assert account is not None
        return account


async def _record(sessions: Sessions, key: str, movement: ledger.Movement) -> ledger.Recorded:
    async with unit_of_work(sessions) as session:
        return await ledger.record(session, key, movement)


async def _trace(sessions: Sessions) -> tuple[int, int, str]:
    async with unit_of_work(sessions) as session:
        movements = await session.scalar(select(func.count()).select_from(LedgerMovement))
        head = await session.get(LedgerChainHead, 1)
        assert head is not None
        return int(movements or 0), head.last_sequence, head.last_hash


async def test_debits_are_checked_summed_per_account(sessions: Sessions) -> None:
    """Two legs of 600 from an account of 1,000: each would pass alone, together they overdraw."""
    payer, first, second = (
        await _account(sessions, 1_000),
        await _account(sessions),
        await _account(sessions),
    )
    before = await _trace(sessions)
    legs = [ledger.Leg(payer, first, 600), ledger.Leg(payer, second, 600)]
    with pytest.raises(ledger.InsufficientCredits):
        await _record(sessions, f"t:{uuid.uuid4()}", ledger.Movement("transfer", legs, 1_200))
    assert await _trace(sessions) == before  # no movement, no entry, the head unmoved
    assert (await _figures(sessions, payer)).balance == 1_000
    legs = [ledger.Leg(payer, first, 600), ledger.Leg(payer, second, 400)]
    await _record(sessions, f"t:{uuid.uuid4()}", ledger.Movement("transfer", legs, 1_000))
    assert [(await _figures(sessions, a)).balance for a in (payer, first, second)] == [0, 600, 400]
    await assert_invariants(sessions)


async def test_a_key_moves_once_and_refuses_other_terms(sessions: Sessions) -> None:
    payer, payee = await _account(sessions, 5_000), await _account(sessions)
    key = f"t:{uuid.uuid4()}"
    movement = ledger.Movement(
        "transfer",
        [ledger.Leg(payer, payee, 1_000)],
        1_000,
        volumes=[ledger.Volume(payer, spent=1_000), ledger.Volume(payee, earned=1_000)],
    )
    first = await _record(sessions, key, movement)
    again = await _record(sessions, key, movement)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.movement.id == first.movement.id
    assert again.movement.created_at == first.movement.created_at
    with pytest.raises(ledger.KeyReused):
        await _record(
            sessions, key, ledger.Movement("transfer", [ledger.Leg(payer, payee, 999)], 999)
        )
    payer_after, payee_after = await _figures(sessions, payer), await _figures(sessions, payee)
    assert (payer_after.balance, payer_after.total_spent) == (4_000, 1_000)
    assert (payee_after.balance, payee_after.total_earned) == (1_000, 1_000)
    await assert_invariants(sessions)


async def test_volumes_move_the_tier_in_the_same_write(sessions: Sessions) -> None:
    silver = ledger.TIERS[1].min_ard * UNITS_PER_ARD
    payer, payee = await _account(sessions, silver), await _account(sessions)
    legs = [ledger.Leg(payer, payee, silver - 1)]
    volumes = [
        ledger.Volume(payer, spent=silver - 1, fees=7),
        ledger.Volume(payee, earned=silver - 1),
        ledger.Volume(payee, deposited=5),  # two volumes of one account add up
    ]
    await _record(
        sessions,
        f"t:{uuid.uuid4()}",
        ledger.Movement("transfer", legs, silver - 1, volumes=volumes),
    )
    payee_after = await _figures(sessions, payee)
    assert (payee_after.tier, payee_after.total_earned, payee_after.total_deposited) == (
        "bronze",
        silver - 1,
        5,
    )
    assert (await _figures(sessions, payer)).total_fees_paid == 7
    legs = [ledger.Leg(payer, payee, 1)]
    volumes = [ledger.Volume(payer, spent=1), ledger.Volume(payee, earned=1)]
    await _record(
        sessions, f"t:{uuid.uuid4()}", ledger.Movement("transfer", legs, 1, volumes=volumes)
    )
    assert (
        (await _figures(sessions, payer)).tier == (await _figures(sessions, payee)).tier == "silver"
    )


async def test_accounts_a_session_holds_show_the_write(sessions: Sessions) -> None:
    payer, payee = await _account(sessions, 3_000), await _account(sessions)
    async with unit_of_work(sessions) as session:
        held = await session.get(LedgerAccount, payer)
        assert held is not None and held.balance == 3_000
        legs = [ledger.Leg(payer, payee, 1_000)]
        volumes = [ledger.Volume(payer, spent=1_000)]
        movement = ledger.Movement("transfer", legs, 1_000, volumes=volumes)
        await ledger.record(session, f"t:{uuid.uuid4()}", movement)
        assert (held.balance, held.total_spent) == (2_000, 1_000)


async def test_entries_chain_in_order_with_their_movement(sessions: Sessions) -> None:
    payer, a, b = (
        await _account(sessions, 9_000),
        await _account(sessions),
        await _account(sessions),
    )
    recorded = await _record(
        sessions,
        f"t:{uuid.uuid4()}",
        ledger.Movement(
            "transfer", [ledger.Leg(payer, a, 1_000), ledger.Leg(payer, b, 2_000)], 3_000
        ),
    )
    async with unit_of_work(sessions) as session:
        entries = list(
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.movement_id == recorded.movement.id)
                .order_by(LedgerEntry.sequence)
            )
        )
        head = await session.get(LedgerChainHead, 1)
    assert [(e.to_account_id, e.amount) for e in entries] == [(a, 1_000), (b, 2_000)]
    assert entries[1].sequence == entries[0].sequence + 1
    assert entries[1].prev_hash == entries[0].hash
    assert head is not None and (head.last_sequence, head.last_hash) == (
        entries[1].sequence,
        entries[1].hash,
    )
    await assert_invariants(sessions)


async def test_a_replayed_transfer_announces_nothing(
    sessions: Sessions, settings: Settings
) -> None:
    """A transfer is announced with its movement; its replay announces nothing."""
    async with unit_of_work(sessions) as session:
        sender, receiver = [
            await agents.register(
                session, f"t-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 10_000
            )
            for _ in range(2)
        ]
    key = f"t:{uuid.uuid4()}"
    moved = []
    for _ in range(2):
        async with unit_of_work(sessions) as session:
            moved.append(
                await transfers.transfer(
                    session,
                    settings,
                    transfers.Transfer(sender.id, str(receiver.id), 1_000, "", key),
                )
            )
    async with unit_of_work(sessions) as session:
        announced = [
            e.payload["movement_id"]
            for e in await session.scalars(select(Event).where(Event.type == "token_transfer"))
            if e.payload["from_agent_id"] == str(sender.id)
        ]
    assert moved[0].id == moved[1].id and announced == [str(moved[0].id)]


async def test_a_transfer_is_announced_by_its_own_transaction(
    sessions: Sessions, settings: Settings
) -> None:
    """The transfer's event goes into the outbox with the movement (on PostgreSQL in the same
    statement): it carries the id of the unit of work's transaction, as an event emitted
    in that unit does (the followers' commit order; an emitted event is appended as the unit
    commits, so it comes after), and leaves nothing if the unit rolls back."""
    async with unit_of_work(sessions) as session:
        sender, receiver = [
            await agents.register(
                session, f"t-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 10_000
            )
            for _ in range(2)
        ]

    async def send(session: AsyncSession, marker: str) -> None:
        events.emit(session, events.EventType.TOKEN_TRANSFER, {"marker": marker}, [sender.id])
        await transfers.transfer(
            session,
            settings,
            transfers.Transfer(sender.id, str(receiver.id), 1_000, "", f"t:{marker}"),
        )

    with pytest.raises(RuntimeError):
        async with unit_of_work(sessions) as session:
            await send(session, "rolled-back")
            raise RuntimeError("the unit of work fails after the transfer")
    async with unit_of_work(sessions) as session:
        await send(session, "kept")
    async with unit_of_work(sessions) as session:
        mine = [
            e
            for e in await session.scalars(
                select(Event).where(Event.type == "token_transfer").order_by(Event.sequence)
            )
            if str(sender.id) in e.audience
        ]
        moved = await ledger.find(session, "t:kept")
    assert moved is not None
    assert [e.payload.get("marker") for e in mine] == [None, "kept"]
    announced, marker = mine
    assert announced.txid == marker.txid
    assert (announced.txid is not None) == (sessions.kw["bind"].dialect.name == "postgresql")
    assert announced.payload == {
        "movement_id": str(moved.id),
        "from_agent_id": str(sender.id),
        "to_agent_id": str(receiver.id),
        "amount_units": 1_000,
        "fee_units": moved.fee_amount,
        "burn_units": moved.burn_amount,
    }
    assert set(announced.audience) == {str(sender.id), str(receiver.id)}
    assert announced.created_at is not None and announced.id is not None


async def test_a_hold_voided_in_the_transaction_that_placed_it(sessions: Sessions) -> None:
    """On PostgreSQL the hold's entries are appended at its commit; a void before that still
    finds the account the credits went into."""
    payer = await _account(sessions, 2_000)
    hold_key = f"h:{uuid.uuid4()}"
    async with unit_of_work(sessions) as session:
        await ledger.hold(session, hold_key, payer, 1_500, ("test", "same-transaction"))
        await ledger.void(session, hold_key, f"{hold_key}:void")
    async with unit_of_work(sessions) as session:
        assert await ledger.held(session, payer) == 0
    assert (await _figures(sessions, payer)).balance == 2_000
    await assert_invariants(sessions)
