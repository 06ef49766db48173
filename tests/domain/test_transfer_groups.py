"""Transfers written together (a process's group on PostgreSQL, ADR 0034): each transfer once,
with the outcome it would have had one after another; a group's failure fails only its cause."""

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, session_factory, unit_of_work
from core.errors import AppError
from core.money import UNITS_PER_ARD
from core.settings import Settings
from domain import agents, ledger
from domain.ledger import InsufficientCredits
from domain.wallet import transfers
from models.events import Event
from models.ledger import LedgerMovement
from tests.conftest import make_settings
from tests.ledger_helpers import assert_invariants, balances

Sessions = async_sessionmaker[AsyncSession]


async def _agents(sessions: Sessions, *funds: int) -> list[uuid.UUID]:
    async with unit_of_work(sessions) as session:
        return [
            (
                await agents.register(
                    session, f"g-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), units
                )
            ).id
            for units in funds
        ]


def _received(settings: Settings, amount: int) -> int:
    return ledger.split(amount, settings.token_platform_fee_pct, settings.token_burn_pct).receiver


async def test_a_group_has_the_outcomes_of_one_transfer_after_another(
    sessions: Sessions, settings: Settings
) -> None:
    """B can pay C only out of what A's transfer gives it earlier in the same group; A's second
    transfer finds A short; a key sent twice moves once; refusals stop nothing after them."""
    a, b, c = await _agents(sessions, 10_000, 0, 0)
    before = await balances(sessions)
    key = f"g:{uuid.uuid4()}"
    group = [
        transfers.Transfer(a, str(b), 6_000, "", key),
        transfers.Transfer(a, str(c), 6_000, "", f"g:{uuid.uuid4()}"),
        transfers.Transfer(b, str(c), 3_000, "", f"g:{uuid.uuid4()}"),
        transfers.Transfer(a, str(a), 100, "", f"g:{uuid.uuid4()}"),
        transfers.Transfer(a, str(uuid.uuid4()), 100, "", f"g:{uuid.uuid4()}"),
        transfers.Transfer(a, str(b), 6_000, "", key),
    ]
    async with unit_of_work(sessions) as session:
        outcomes = await transfers.transfer_all(session, settings, group)

    first, short, onward, itself, nobody, again = outcomes
    assert isinstance(first, LedgerMovement) and isinstance(onward, LedgerMovement)
    assert isinstance(short, InsufficientCredits)
    assert isinstance(itself, transfers.SelfTransfer)
    assert isinstance(nobody, agents.AgentNotFound)
    assert isinstance(again, LedgerMovement) and again.id == first.id
    after = await balances(sessions)
    assert after[str(a)] == before[str(a)] - 6_000
    assert after[str(b)] == _received(settings, 6_000) - 3_000
    assert after[str(c)] == _received(settings, 3_000)
    async with unit_of_work(sessions) as session:
        announced = [
            e.payload["movement_id"]
            for e in await session.scalars(select(Event).where(Event.type == "token_transfer"))
            if e.payload.get("from_agent_id") in (str(a), str(b))
        ]
    assert sorted(announced) == sorted([str(first.id), str(onward.id)])
    await assert_invariants(sessions)


async def test_concurrent_transfers_through_a_process_move_once_each(
    sessions: Sessions, settings: Settings
) -> None:
    """Five senders of 10,000 each send four transfers of 3,000 at once, each sent twice under
    its key: exactly three of each sender's four move, once."""
    senders = await _agents(sessions, *[10_000] * 5)
    receivers = await _agents(sessions, *[0] * 5)
    sent = [
        transfers.Transfer(s, str(receivers[(i + n) % 5]), 3_000, "", f"c:{uuid.uuid4()}")
        for i, s in enumerate(senders)
        for n in range(4)
    ]
    desk = transfers.Transfers(settings)

    async def send(one: transfers.Transfer) -> LedgerMovement | AppError:
        try:
            async with unit_of_work(sessions) as session:
                return await desk.send(one, session)
        except AppError as refused:
            return refused

    try:
        outcomes = await asyncio.gather(*(send(one) for one in sent + sent))
    finally:
        await desk.close()

    moved: dict[str, set[uuid.UUID]] = {}
    for one, outcome in zip(sent + sent, outcomes, strict=True):
        if isinstance(outcome, LedgerMovement):
            moved.setdefault(one.key, set()).add(outcome.id)
        else:
            assert isinstance(outcome, InsufficientCredits), outcome
    assert all(len(ids) == 1 for ids in moved.values())  # a key's two sends: one movement
    per_sender = {s: sum(one.sender_id == s for one in sent if one.key in moved) for s in senders}
    assert per_sender == dict.fromkeys(senders, 3)
    after = await balances(sessions)
    assert all(after[str(s)] == 1_000 for s in senders)
    await assert_invariants(sessions)


async def test_a_transfer_the_database_refuses_fails_only_its_sender(
    postgres_url: str, tmp_path: Path
) -> None:
    """One transfer of a group breaks the group's statement (its key is longer than a key may
    be): the group is written again one transfer at a time, and only that one fails."""
    settings = make_settings(postgres_url, tmp_path)
    engine = create_engine(postgres_url)
    sessions = session_factory(engine)
    try:
        senders = await _agents(sessions, *[10_000] * 4)
        receiver = await _agents(sessions, 0)
        sent = [transfers.Transfer(s, str(receiver[0]), 1_000, "", f"r:{s}") for s in senders]
        sent[2] = transfers.Transfer(senders[2], str(receiver[0]), 1_000, "", "k" * 300)
        desk = transfers.Transfers(settings)

        async def send(one: transfers.Transfer) -> LedgerMovement:
            async with sessions() as unused_on_postgresql:
                return await desk.send(one, unused_on_postgresql)

        try:
            outcomes = await asyncio.gather(*(send(one) for one in sent), return_exceptions=True)
        finally:
            await desk.close()
        assert isinstance(outcomes[2], psycopg.errors.StringDataRightTruncation)
        assert all(isinstance(o, LedgerMovement) for n, o in enumerate(outcomes) if n != 2)
        after = await balances(sessions)
        assert [after[str(s)] for s in senders] == [9_000, 9_000, 10_000, 9_000]
        await assert_invariants(sessions)
    finally:
        await engine.dispose()


async def test_a_desk_whose_connection_was_lost_writes_on_a_new_one(
    postgres_url: str, tmp_path: Path
) -> None:
    """The server drops the desk's connection between two transfers: the second is written on a
    new connection, once, and its sender hears nothing of it."""
    settings = make_settings(postgres_url, tmp_path)
    engine = create_engine(postgres_url)
    sessions = session_factory(engine)
    try:
        a, b = await _agents(sessions, 10_000, 0)
        desk = transfers.Transfers(settings)
        try:
            async with sessions() as unused_on_postgresql:
                await desk.send(
                    transfers.Transfer(a, str(b), 1_000, "", f"l:{uuid.uuid4()}"),
                    unused_on_postgresql,
                )
                assert desk._connection is not None
                async with engine.connect() as admin:
                    await admin.execute(
                        text("SELECT pg_terminate_backend(:pid)"),
                        {"pid": desk._connection.info.backend_pid},
                    )
                await desk.send(
                    transfers.Transfer(a, str(b), 1_000, "", f"l:{uuid.uuid4()}"),
                    unused_on_postgresql,
                )
        finally:
            await desk.close()
        after = await balances(sessions)
        assert after[str(a)] == 8_000 and after[str(b)] == 2 * _received(settings, 1_000)
        await assert_invariants(sessions)
    finally:
        await engine.dispose()


async def test_a_transfer_after_its_sender_reaches_a_tier_is_priced_at_it(
    sessions: Sessions, settings: Settings
) -> None:
    """The first transfer of a group takes its sender to silver: the second, in the same group,
    pays silver's fee, as it would have one after the other."""
    silver = ledger.TIERS[1]
    floor = silver.min_ard * UNITS_PER_ARD
    a, b = await _agents(sessions, floor + 100_000, 0)
    group = [
        transfers.Transfer(a, str(b), floor, "", f"t:{uuid.uuid4()}"),
        transfers.Transfer(a, str(b), 100_000, "", f"t:{uuid.uuid4()}"),
    ]
    async with unit_of_work(sessions) as session:
        first, second = await transfers.transfer_all(session, settings, group)
    fee, burn = settings.token_platform_fee_pct, settings.token_burn_pct
    assert isinstance(first, LedgerMovement) and isinstance(second, LedgerMovement)
    assert first.fee_amount == ledger.split(floor, fee, burn).fee
    assert second.fee_amount == ledger.split(100_000, fee, burn, silver.discount).fee
    assert second.fee_amount < ledger.split(100_000, fee, burn).fee
    await assert_invariants(sessions)


async def test_a_transfer_retried_after_it_moved_its_sender_up_a_tier_replays(
    sessions: Sessions, settings: Settings
) -> None:
    """Priced again at the tier it reached, the retry's legs differ from the original's; it is
    still the same request (sender, receiver, amount, memo), so it replays and moves nothing."""
    floor = ledger.TIERS[1].min_ard * UNITS_PER_ARD
    a, b = await _agents(sessions, floor + 100_000, 0)
    sent = transfers.Transfer(a, str(b), floor, "to silver", f"t:{uuid.uuid4()}")
    async with unit_of_work(sessions) as session:
        first = await transfers.transfer(session, settings, sent)
    after_first = await balances(sessions)
    async with unit_of_work(sessions) as session:
        again = await transfers.transfer(session, settings, sent)
    assert again.id == first.id
    assert await balances(sessions) == after_first
    async with unit_of_work(sessions) as session:
        with pytest.raises(ledger.KeyReused):
            await transfers.transfer(
                session, settings, transfers.Transfer(a, str(b), 1, "", sent.key)
            )
    await assert_invariants(sessions)


async def test_a_movement_priced_at_a_tier_its_account_left_writes_nothing(
    sessions: Sessions, settings: Settings
) -> None:
    """The write checks, under its locks, the tier a movement was priced at."""
    a, b = await _agents(sessions, 10_000, 0)
    async with unit_of_work(sessions) as session:
        payer = await ledger.open_account(session, "agent", a)
        payee = await ledger.open_account(session, "agent", b)
        movement = ledger.Movement("transfer", [ledger.Leg(payer.id, payee.id, 1_000)], 1_000)
        key = f"p:{uuid.uuid4()}"
        (outcome,) = await ledger.record_all(
            session, [ledger.Recording(key, movement, expect=[(payer.id, "gold")])]
        )
        assert isinstance(outcome, ledger.Repriced)
        assert await ledger.find(session, key) is None
    assert (await balances(sessions))[str(a)] == 10_000


async def test_a_transfer_priced_at_a_tier_its_sender_has_left_is_priced_again(
    sessions: Sessions, settings: Settings
) -> None:
    """The process knows the sender at bronze, and its first transfer takes it to silver: the next
    is priced at bronze from what the process knows, refused by the write, and priced again at
    silver from the account read anew."""
    silver = ledger.TIERS[1]
    floor = silver.min_ard * UNITS_PER_ARD
    a, b = await _agents(sessions, floor + 100_000, 0)
    known = transfers.Known()
    async with unit_of_work(sessions) as session:
        await transfers.transfer(
            session, settings, transfers.Transfer(a, str(b), floor, "", f"t:{uuid.uuid4()}"), known
        )
    assert known[a].tier == ledger.TIERS[0].name
    async with unit_of_work(sessions) as session:
        moved = await transfers.transfer(
            session,
            settings,
            transfers.Transfer(a, str(b), 100_000, "", f"t:{uuid.uuid4()}"),
            known,
        )
    fee, burn = settings.token_platform_fee_pct, settings.token_burn_pct
    assert moved.fee_amount == ledger.split(100_000, fee, burn, silver.discount).fee
    assert known[a].tier == silver.name
    await assert_invariants(sessions)


async def test_an_agent_deactivated_since_it_was_known_is_not_paid(
    sessions: Sessions, settings: Settings
) -> None:
    """The process knows the receiver's account from an earlier transfer; once the receiver is
    deactivated, a transfer to it is refused by the write itself, nothing moves, and the rest of
    its group is written."""
    a, b, c = await _agents(sessions, 10_000, 0, 0)
    known = transfers.Known()
    async with unit_of_work(sessions) as session:
        await transfers.transfer(
            session, settings, transfers.Transfer(a, str(b), 1_000, "", f"d:{uuid.uuid4()}"), known
        )
        await agents.deactivate(session, str(b), b)
    assert b in known
    before = await balances(sessions)
    refused, paid = f"d:{uuid.uuid4()}", f"d:{uuid.uuid4()}"
    group = [
        transfers.Transfer(a, str(b), 1_000, "", refused),
        transfers.Transfer(a, str(c), 1_000, "", paid),
    ]
    async with unit_of_work(sessions) as session:
        outcomes = await transfers.transfer_all(session, settings, group, known)
    assert isinstance(outcomes[0], agents.AgentNotFound)
    assert isinstance(outcomes[1], LedgerMovement)
    after = await balances(sessions)
    assert after[str(b)] == before[str(b)]
    assert after[str(c)] == before[str(c)] + _received(settings, 1_000)
    async with unit_of_work(sessions) as session:
        assert await ledger.find(session, refused) is None
    await assert_invariants(sessions)
