"""The fee rule, in one place.

fee     = amount x fee_pct x (1 - tier discount), rounded half-up to the unit
burned  = fee x burn_pct, rounded down to the unit
treasury = fee - burned;  receiver = amount - fee
so receiver + treasury + burned == amount for every amount, exactly.
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
