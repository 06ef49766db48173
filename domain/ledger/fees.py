"""The fee rule, in one place.

fee     = amount x fee_pct x (1 - tier discount), rounded half-up to the unit
burned  = fee x burn_pct, rounded down to the unit
treasury = fee - burned;  receiver = amount - fee
so receiver + treasury + burned == amount for every amount, exactly.

quality bonus = min(proceeds x bonus_pct, fee x max_fee_share), each rounded down, with
max_fee_share < 1: the bonus is always less than the fee of the same sale (when there is one),
so a buyer and a seller trading back and forth lose money on every round trip (ADR 0030).
"""

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class FeeSplit:
    amount: int
    fee: int
    burned: int

    @property
    def treasury(self) -> int:
        return self.fee - self.burned

    @property
    def receiver(self) -> int:
        return self.amount - self.fee


def split(
    amount: int, fee_pct: Decimal, burn_pct: Decimal, discount: Decimal = Decimal(0)
) -> FeeSplit:
    if amount <= 0:
        raise ValueError("amount must be positive")
    fee = int((amount * fee_pct * (1 - discount)).quantize(Decimal(1), ROUND_HALF_UP))
    fee = min(max(fee, 0), amount)
    burned = int((fee * burn_pct).to_integral_value(ROUND_FLOOR))
    return FeeSplit(amount=amount, fee=fee, burned=min(max(burned, 0), fee))


def quality_bonus(proceeds: int, fee: int, bonus_pct: Decimal, max_fee_share: Decimal) -> int:
    """The seller's quality bonus for a sale: a share of its proceeds, capped below its fee."""
    if not 0 <= max_fee_share < 1:
        raise ValueError("max_fee_share must be at least 0 and below 1")
    earned = int((proceeds * bonus_pct).to_integral_value(ROUND_FLOOR))
    cap = int((fee * max_fee_share).to_integral_value(ROUND_FLOOR))
    return max(0, min(earned, cap))
