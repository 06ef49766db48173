"""Money is integer units everywhere; decimal strings only at the edge.

1 unit = 1 micro-USD = 1 atomic USDC unit = 0.001 ARD, so 1 ARD = 1,000 units and
1 USDC = 1,000,000 units. Inputs with more precision than one unit are refused, never rounded.
"""

import re
from decimal import Decimal
from typing import Final

UNITS_PER_ARD: Final = 1_000
UNITS_PER_USDC: Final = 1_000_000
ARD_SCALE: Final = 3
USDC_SCALE: Final = 6
FIAT_SCALE: Final = 2
MAX_ARD: Final = 1_000_000_000
MAX_UNITS: Final = MAX_ARD * UNITS_PER_ARD

# Digits, an optional point and decimals: no sign, exponent, leading zeros, spaces or words.
_PLAIN_DECIMAL = re.compile(r"(?:0|[1-9]\d*)(?:\.\d+)?")


class MoneyError(ValueError):
    """An amount that cannot be represented exactly in units (the message says why)."""


def parse_amount(value: object, scale: int) -> Decimal:
    """An exact amount with at most `scale` decimals, from a plain decimal string or a number.

    Strings at the edge are plain and never negative: NaN, infinities, exponents ('1e3',
    '1e1000000'), signs and spaces are refused, so no arithmetic ever sees them. JSON numbers
    arrive as floats: their shortest repr is what was sent (JSON has no NaN or infinity).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise MoneyError("amount must be a decimal string or a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise MoneyError("amount must be a plain decimal such as 12.5 (no exponent)")
        value = Decimal(value)
    elif isinstance(value, float):
        value = Decimal(repr(value))
    if not value.is_finite():
        raise MoneyError("amount must be a finite number")
    if -int(value.as_tuple().exponent) > scale:
        raise MoneyError(f"amount has at most {scale} decimal places")
    return value


def _to_units(value: object, units_per_whole: int, scale: int) -> int:
    amount = parse_amount(value, scale)
    if abs(amount) > Decimal(MAX_UNITS) / units_per_whole:
        raise MoneyError(f"amount is above the {MAX_ARD:,} ARD limit")
    return int(amount * units_per_whole)


def ard_to_units(value: object) -> int:
    """'1.5' ARD -> 1500 units. Refuses NaN, infinities, exponents, excess precision and
    amounts above the limit."""
    return _to_units(value, UNITS_PER_ARD, ARD_SCALE)


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
