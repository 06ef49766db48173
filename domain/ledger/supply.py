"""The supply equation, derived from the accounts:

minted = circulating (agents + creators) + treasury + escrow + payout clearing + burned + paid out
"""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.accounts import System
from models.ledger import LedgerAccount


@dataclass(frozen=True)
class Supply:
    total_minted: int
    total_burned: int
    circulating: int
    platform_balance: int
    in_escrow: int
    payout_clearing: int
    total_paid_out: int
    sum_of_accounts: int

    @property
    def balanced(self) -> bool:
        parts = (
            self.circulating
            + self.platform_balance
            + self.in_escrow
            + self.payout_clearing
            + self.total_burned
            + self.total_paid_out
        )
        return self.sum_of_accounts == 0 and self.total_minted == parts


async def supply(session: AsyncSession) -> Supply:
    rows = await session.execute(
        select(LedgerAccount.owner_kind, LedgerAccount.owner_id, func.sum(LedgerAccount.balance))
        .where(LedgerAccount.owner_kind == "system")
        .group_by(LedgerAccount.owner_kind, LedgerAccount.owner_id)
    )
    system = {owner_id: int(total) for _, owner_id, total in rows}
    circulating = await session.scalar(
        select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(
            LedgerAccount.owner_kind != "system"
        )
    )
    circulating = int(circulating or 0)
    return Supply(
        total_minted=-system.get(System.ISSUANCE, 0),
        total_burned=system.get(System.BURN, 0),
        circulating=circulating,
        platform_balance=system.get(System.TREASURY, 0),
        in_escrow=system.get(System.ESCROW, 0),
        payout_clearing=system.get(System.PAYOUT_CLEARING, 0),
        total_paid_out=system.get(System.PAID_OUT, 0),
        sum_of_accounts=circulating + sum(system.values()),
    )
