"""Random sequences of ledger operations against a plain-Python model, on both databases.

After every step: each balance matches the model, the accounts sum to zero, the supply
equation holds and the hash chain verifies.
"""

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import update

from core.db import create_engine, session_factory, unit_of_work
from core.errors import PaymentRequired
from core.money import UNITS_PER_ARD
from core.settings import Settings
from domain import agents, ledger
from domain.ledger.accounts import tier_for_volume, tier_named
from domain.wallet import transfers
from models.ledger import LedgerAccount, LedgerMovement
from tests.ledger_helpers import balances

FEE, BURN = Decimal("0.02"), Decimal("0.50")
SYSTEM = ("issuance", "treasury", "burn", "escrow")
amounts = st.integers(min_value=1, max_value=150_000)
shy = st.integers(min_value=1, max_value=300_000)  # units short of a tier: two transfers or so


class LedgerMachine(RuleBasedStateMachine):
    database_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(self.database_url)
        self.sessions = session_factory(self.engine)
        self.settings = Settings(database_url=self.database_url)
        self.holds: dict[str, tuple[str, int]] = {}  # open holds: key -> (agent, amount)
        self.volume: dict[str, int] = {}
        # What one process knows of the agents' accounts across steps: tiers it read go stale
        # as transfers move them, and each fee must still be its sender's tier of the moment.
        self.known = transfers.Known()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()

    async def _in_uow(self, fn: Any) -> Any:
        async with unit_of_work(self.sessions) as session:
            return await fn(session)

    def apply(self, fn: Any) -> bool:
        """Run one operation in its own unit of work; False when refused for lack of credits."""
        try:
            self.run(self._in_uow(fn))
            return True
        except PaymentRequired:
            return False

    @initialize(
        tier=st.sampled_from(["silver", "gold"]), below=st.lists(shy, min_size=3, max_size=3)
    )
    def open_agents(self, tier: str, below: list[int]) -> None:
        """Three agents whose lifetime volume starts a few transfers short of `tier`: the
        steps take them over it, so fees change tier between steps and within a group."""
        self.agents: list[str] = []
        for shortfall in below:
            name = f"prop-{uuid.uuid4().hex[:10]}"
            volume = tier_named(tier).min_ard * UNITS_PER_ARD - shortfall

            async def make(session: Any, name: str = name, volume: int = volume) -> str:
                agent = await agents.register(session, name, "both", agents.AgentProfile(), 100_000)
                await session.execute(
                    update(LedgerAccount)
                    .where(LedgerAccount.owner_kind == "agent")
                    .where(LedgerAccount.owner_id == str(agent.id))
                    .values(total_earned=volume, tier=tier_for_volume(volume).name)
                )
                return str(agent.id)

            self.agents.append(self.run(self._in_uow(make)))
            self.volume[self.agents[-1]] = volume
        self.start = self.run(balances(self.sessions))
        self.model = {a: 100_000 for a in self.agents} | {s: self.start[s] for s in SYSTEM}

    def _account(self, session: Any, agent: str) -> Any:
        return ledger.open_account(session, "agent", uuid.UUID(agent))

    @rule(src=st.integers(0, 2), dst=st.integers(0, 2), amount=amounts)
    def transfer(self, src: int, dst: int, amount: int) -> None:
        sender, receiver = self.agents[src], self.agents[dst]
        if sender == receiver:
            return
        discount = tier_named(tier_for_volume(self.volume[sender]).name).discount
        split = ledger.split(amount, FEE, BURN, discount)

        async def go(session: Any) -> None:
            await transfers.transfer(
                session,
                self.settings,
                transfers.Transfer(uuid.UUID(sender), receiver, amount, "", f"prop:{uuid.uuid4()}"),
                self.known,
            )

        moved = self.apply(go)
        assert moved == (self.model[sender] >= amount)
        if moved:
            self._moved(sender, receiver, amount, split)

    def _moved(self, sender: str, receiver: str, amount: int, split: ledger.FeeSplit) -> None:
        self.model[sender] -= amount
        self.model[receiver] += split.receiver
        self.model["treasury"] += split.treasury
        self.model["burn"] += split.burned
        self.volume[sender] += amount
        self.volume[receiver] += split.receiver

    @rule(
        group=st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 2), amounts), min_size=2, max_size=5
        )
    )
    def transfer_group(self, group: list[tuple[int, int, int]]) -> None:
        """Transfers written together, as a process writes its group on PostgreSQL: each has
        the outcome and the fee (at its sender's tier then) of one transfer after another."""
        sent = [
            transfers.Transfer(
                uuid.UUID(self.agents[src]), self.agents[dst], amount, "", f"prop:{uuid.uuid4()}"
            )
            for src, dst, amount in group
        ]

        async def go(session: Any) -> list[Any]:
            return await transfers.transfer_all(session, self.settings, sent, self.known)

        outcomes = self.run(self._in_uow(go))
        for (src, dst, amount), outcome in zip(group, outcomes, strict=True):
            sender, receiver = self.agents[src], self.agents[dst]
            if sender == receiver:
                assert isinstance(outcome, transfers.SelfTransfer)
                continue
            moved = self.model[sender] >= amount
            assert isinstance(outcome, LedgerMovement if moved else PaymentRequired), outcome
            if moved:
                discount = tier_named(tier_for_volume(self.volume[sender]).name).discount
                self._moved(sender, receiver, amount, ledger.split(amount, FEE, BURN, discount))

    @rule(who=st.integers(0, 2), amount=amounts)
    def place_hold(self, who: int, amount: int) -> None:
        agent, key = self.agents[who], f"prop-hold:{uuid.uuid4()}"

        async def go(session: Any) -> None:
            account = await self._account(session, agent)
            await ledger.hold(session, key, account.id, amount, ("prop", key))

        held = self.apply(go)
        assert held == (self.model[agent] >= amount)
        if held:
            self.model[agent] -= amount
            self.model["escrow"] += amount
            self.holds[key] = (agent, amount)

    @precondition(lambda self: bool(self.holds))
    @rule(pick=st.integers(0, 10_000), seller=st.integers(0, 2), replay=st.booleans())
    def settle(self, pick: int, seller: int, replay: bool) -> None:
        key = sorted(self.holds)[pick % len(self.holds)]
        _, amount = self.holds.pop(key)
        payee = self.agents[seller]
        split = ledger.split(amount, FEE, BURN)

        async def go(session: Any) -> None:
            escrow = ledger.System.ESCROW
            treasury = ledger.System.TREASURY
            burn = ledger.System.BURN
            account = await self._account(session, payee)
            legs = [
                ledger.Leg(escrow.id, account.id, split.receiver),
                ledger.Leg(escrow.id, treasury.id, split.treasury),
                ledger.Leg(escrow.id, burn.id, split.burned),
            ]
            movement = ledger.Movement("purchase", [g for g in legs if g.amount], amount)
            await ledger.post(session, key, f"{key}:settle", movement)

        for _ in range(2 if replay else 1):  # a replayed settlement changes nothing
            assert self.apply(go)
        self.model["escrow"] -= amount
        self.model[payee] += split.receiver
        self.model["treasury"] += split.treasury
        self.model["burn"] += split.burned

    @precondition(lambda self: bool(self.holds))
    @rule(pick=st.integers(0, 10_000), replay=st.booleans())
    def release(self, pick: int, replay: bool) -> None:
        key = sorted(self.holds)[pick % len(self.holds)]
        agent, amount = self.holds.pop(key)

        async def go(session: Any) -> None:
            await ledger.void(session, key, f"{key}:release")

        for _ in range(2 if replay else 1):
            assert self.apply(go)
        self.model["escrow"] -= amount
        self.model[agent] += amount

    @rule(who=st.integers(0, 2), amount=amounts)
    def deposit(self, who: int, amount: int) -> None:
        agent = self.agents[who]

        async def go(session: Any) -> None:
            account = await self._account(session, agent)
            issuance = ledger.System.ISSUANCE
            await ledger.record(
                session,
                f"prop-deposit:{uuid.uuid4()}",
                ledger.Movement("deposit", [ledger.Leg(issuance.id, account.id, amount)], amount),
            )

        assert self.apply(go)
        self.model[agent] += amount
        self.model["issuance"] -= amount

    @rule(who=st.integers(0, 2), amount=amounts)
    def burn(self, who: int, amount: int) -> None:
        agent = self.agents[who]

        async def go(session: Any) -> None:
            account = await self._account(session, agent)
            sink = ledger.System.BURN
            await ledger.record(
                session,
                f"prop-burn:{uuid.uuid4()}",
                ledger.Movement("burn", [ledger.Leg(account.id, sink.id, amount)], amount),
            )

        burned = self.apply(go)
        assert burned == (self.model[agent] >= amount)
        if burned:
            self.model[agent] -= amount
            self.model["burn"] += amount

    @invariant()
    def ledger_matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        actual = self.run(balances(self.sessions))
        assert {k: actual[k] for k in self.model} == self.model

        async def check(session: Any) -> None:
            supply = await ledger.supply(session)
            assert supply.sum_of_accounts == 0 and supply.balanced, supply
            verdict = await ledger.verify(session)
            assert verdict.valid, verdict

        self.run(self._in_uow(check))


def test_ledger_against_a_model(database_url: str) -> None:
    LedgerMachine.database_url = database_url
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=8,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
