"""Money is integer units everywhere; decimal strings only at the edge.

1 unit = 1 micro-USD = 1 atomic USDC unit = 0.001 ARD, so 1 ARD = 1,000 units and
1 USDC = 1,000,000 units. Inputs with more precision than one unit are refused, never rounded.
"""

from decimal import Decimal, InvalidOperation
from typing import Final

UNITS_PER_ARD: Final = 1_000
UNITS_PER_USDC: Final = 1_000_000
ARD_SCALE: Final = 3
USDC_SCALE: Final = 6
MAX_ARD: Final = 1_000_000_000
MAX_UNITS: Final = MAX_ARD * UNITS_PER_ARD


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in units (the message says why)."""


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        raise MoneyError("amount must be a decimal string or a number")
    if isinstance(value, float):
        # JSON numbers arrive as floats: read back the shortest repr, which is what was sent.
        value = repr(value)
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise MoneyError("amount is not a number") from None
    if not amount.is_finite():
        raise MoneyError("amount must be a finite number")
    return amount


def _to_units(value: object, units_per_whole: int, scale: int, name: str) -> int:
    amount = _to_decimal(value)
    if abs(amount) * units_per_whole > MAX_UNITS:
        raise MoneyError(f"amount is above the {MAX_ARD:,} ARD limit")
    units = amount * units_per_whole
    if units != units.to_integral_value():
        raise MoneyError(f"{name} amounts have at most {scale} decimal places")
    return int(units)


def ard_to_units(value: object) -> int:
    """'1.5' ARD -> 1500 units. Refuses NaN, infinities, excess precision and huge amounts."""
    return _to_units(value, UNITS_PER_ARD, ARD_SCALE, "ARD")


def usdc_to_units(value: object) -> int:
    """'0.005' USDC -> 5000 units."""
    return _to_units(value, UNITS_PER_USDC, USDC_SCALE, "USDC")


def units_to_ard(units: int) -> str:
    """1500 -> '1.500'."""
    return _format(units, UNITS_PER_ARD, ARD_SCALE)


def units_to_usdc(units: int) -> str:
    """5000 -> '0.005000'."""
    return _format(units, UNITS_PER_USDC, USDC_SCALE)


def _format(units: int, units_per_whole: int, scale: int) -> str:
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError("units must be an int")
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), units_per_whole)
    return f"{sign}{whole}.{frac:0{scale}d}"
