"""Transfers between agents: the sender pays the fee (discounted by tier); half of it burns."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import RuleViolation
from core.settings import Settings
from domain import agents, events, ledger
from domain.ledger.accounts import of as account_of
from domain.ledger.accounts import tier_named
from models.ledger import LedgerMovement

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
    await ledger.lock(session)  # first: tier and lifetime figures are read and written under it
    receiver = await agents.get(session, receiver_id)
    if receiver.id == sender_id:
        raise SelfTransfer("An agent cannot transfer credits to itself")
    if receiver.status != agents.ACTIVE:
        raise agents.AgentNotFound(f"Agent {receiver_id} not found")
    sender_account = await account_of(session, AGENT, sender_id)
    receiver_account = await account_of(session, AGENT, receiver.id)
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
            reference_id=str(receiver.id),
            memo=memo,
        ),
    )
    if not recorded.replayed:
        ledger.add_volume(sender_account, spent=amount, fees=fees.fee)
        ledger.add_volume(receiver_account, earned=fees.receiver)
        events.emit(
            session,
            events.EventType.TOKEN_TRANSFER,
            {
                "movement_id": str(recorded.movement.id),
                "from_agent_id": str(sender_id),
                "to_agent_id": str(receiver.id),
                "amount_units": amount,
                "fee_units": fees.fee,
                "burn_units": fees.burned,
            },
            audience=[sender_id, receiver.id],
        )
    return recorded.movement
