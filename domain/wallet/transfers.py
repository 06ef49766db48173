"""Transfers between agents: the sender pays the fee (discounted by tier); half of it burns."""

import uuid
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import RuleViolation
from core.ids import parse_id
from core.settings import Settings
from domain import agents, events, ledger
from domain.ledger.accounts import AccountNotFound, tier_named
from models.agents import AgentStatus, RegisteredAgent
from models.ledger import LedgerAccount, LedgerMovement

AGENT = "agent"


class SelfTransfer(RuleViolation):
    code = "self_transfer"


async def transfer(
    session: AsyncSession,
    settings: Settings,
    *,
    sender_id: uuid.UUID,
    receiver_id: str,
    amount: int,
    memo: str,
    key: str,
) -> LedgerMovement:
    receiver = parse_id(receiver_id)
    if receiver == sender_id:
        raise SelfTransfer("An agent cannot transfer credits to itself")
    if receiver is None:
        raise agents.AgentNotFound(f"Agent {receiver_id} not found")
    sender_account, receiver_account = await _parties(session, sender_id, receiver)
    # Priced at the tier the sender has now; the volume below moves the tier in the same write.
    fees = ledger.split(
        amount,
        settings.token_platform_fee_pct,
        settings.token_burn_pct,
        tier_named(sender_account.tier).discount,
    )
    treasury = ledger.System.TREASURY
    burn = ledger.System.BURN
    legs = [
        ledger.Leg(sender_account.id, receiver_account.id, fees.receiver),
        ledger.Leg(sender_account.id, treasury.id, fees.treasury),
        ledger.Leg(sender_account.id, burn.id, fees.burned),
    ]
    movement_id = uuid.uuid4()
    announced = events.announcement(
        events.EventType.TOKEN_TRANSFER,
        {
            "movement_id": str(movement_id),
            "from_agent_id": str(sender_id),
            "to_agent_id": str(receiver),
            "amount_units": amount,
            "fee_units": fees.fee,
            "burn_units": fees.burned,
        },
        audience=[sender_id, receiver],
    )
    recorded = await ledger.record(
        session,
        key,
        ledger.Movement(
            "transfer",
            [leg for leg in legs if leg.amount],
            amount,
            fee_amount=fees.fee,
            burn_amount=fees.burned,
            reference_type="agent",
            reference_id=str(receiver),
            memo=memo,
            volumes=[
                ledger.Volume(sender_account.id, spent=amount, fees=fees.fee),
                ledger.Volume(receiver_account.id, earned=fees.receiver),
            ],
        ),
        movement_id=movement_id,
        announce=announced,
    )
    return recorded.movement


class _Party(NamedTuple):
    id: uuid.UUID
    owner_id: str
    tier: str
    receiver_status: str | None


# Both accounts and whether the receiver can be paid, in one query built once.
_PARTIES = select(
    LedgerAccount.id,
    LedgerAccount.owner_id,
    LedgerAccount.tier,
    select(RegisteredAgent.status)
    .where(RegisteredAgent.id == bindparam("receiver"))
    .scalar_subquery(),
).where(
    LedgerAccount.owner_kind == AGENT,
    LedgerAccount.owner_id.in_(bindparam("owners", expanding=True)),
)


async def _parties(
    session: AsyncSession, sender_id: uuid.UUID, receiver_id: uuid.UUID
) -> tuple[_Party, _Party]:
    rows = await session.execute(
        _PARTIES, {"receiver": receiver_id, "owners": [str(sender_id), str(receiver_id)]}
    )
    found = {row.owner_id: _Party(*row) for row in rows}
    receiver = found.get(str(receiver_id))
    if receiver is None or receiver.receiver_status != AgentStatus.ACTIVE:
        raise agents.AgentNotFound(f"Agent {receiver_id} not found")
    if str(sender_id) not in found:
        raise AccountNotFound(f"No agent account for {sender_id}")
    return found[str(sender_id)], receiver
