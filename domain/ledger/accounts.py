"""Accounts: one per agent and creator, plus the system accounts money flows through."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.money import UNITS_PER_ARD
from core.queries import fetch
from models.ledger import LedgerAccount


class System(StrEnum):
    ISSUANCE = "issuance"  # every credit is minted out of here; its balance is -(total minted)
    TREASURY = "treasury"  # platform fees and the quality-bonus pool
    BURN = "burn"  # burned credits; never leave
    ESCROW = "escrow"  # open holds
    PAYOUT_CLEARING = "payout_clearing"  # open redemptions
    PAID_OUT = "paid_out"  # completed redemptions; never leave

    @property
    def id(self) -> uuid.UUID:
        """Fixed ids, seeded by the migration that creates the ledger: no lookup needed."""
        return _SYSTEM_IDS[self]


_SYSTEM_IDS = {s: uuid.uuid5(uuid.NAMESPACE_URL, f"agentchains:system:{s.value}") for s in System}


class Tier(NamedTuple):
    name: str
    min_ard: int
    discount: Decimal


TIERS = (
    Tier("bronze", 0, Decimal("0")),
    Tier("silver", 10_000, Decimal("0.10")),
    Tier("gold", 100_000, Decimal("0.25")),
    Tier("platinum", 1_000_000, Decimal("0.50")),
)


class AccountNotFound(NotFound):
    code = "account_not_found"


def tier_for_volume(volume_units: int) -> Tier:
    """The highest tier whose threshold the lifetime volume (earned + spent) reaches."""
    return [t for t in TIERS if volume_units >= t.min_ard * UNITS_PER_ARD][-1]


def tier_named(name: str) -> Tier:
    return next(t for t in TIERS if t.name == name)


async def open_account(
    session: AsyncSession, owner_kind: str, owner_id: uuid.UUID
) -> LedgerAccount:
    """The owner's account, created on first use (idempotent, safe under concurrency)."""
    existing = await find(session, owner_kind, owner_id)
    if existing is not None:
        return existing
    account = LedgerAccount(owner_kind=owner_kind, owner_id=str(owner_id))
    try:
        async with session.begin_nested():
            session.add(account)
    except IntegrityError:
        found = await find(session, owner_kind, owner_id)
        assert found is not None
        return found
    return account


async def find(
    session: AsyncSession, owner_kind: str, owner_id: uuid.UUID | str
) -> LedgerAccount | None:
    return await session.scalar(
        select(LedgerAccount).where(
            LedgerAccount.owner_kind == owner_kind, LedgerAccount.owner_id == str(owner_id)
        )
    )


class Owned(NamedTuple):
    id: uuid.UUID
    owner_id: str
    tier: str


async def accounts_of(
    session: AsyncSession, owner_kind: str, owner_ids: Sequence[uuid.UUID]
) -> list[Owned]:
    """These owners' accounts: id, owner and tier (an owner without one is missing)."""
    found = await fetch(
        session, _OWNED, {"kind": owner_kind, "owners": [str(o) for o in owner_ids]}
    )
    return [Owned(*row) for row in found]


_OWNED = select(LedgerAccount.id, LedgerAccount.owner_id, LedgerAccount.tier).where(
    LedgerAccount.owner_kind == bindparam("kind"),
    LedgerAccount.owner_id.in_(bindparam("owners", expanding=True)),
)


async def of(session: AsyncSession, owner_kind: str, owner_id: uuid.UUID) -> LedgerAccount:
    account = await find(session, owner_kind, owner_id)
    if account is None:
        raise AccountNotFound(f"No {owner_kind} account for {owner_id}")
    return account


@dataclass(frozen=True)
class Volume:
    """What a movement adds to an account's lifetime figures; the tier follows the volume
    (earned + spent) in the same write."""

    account: uuid.UUID
    earned: int = 0
    spent: int = 0
    deposited: int = 0
    fees: int = 0
