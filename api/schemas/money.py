"""Money at the edge: decimal strings (or numbers) in, fixed-scale strings out, integers inside.

Each input type documents exactly what it accepts, so a client (or a fuzzer) reading the
OpenAPI document never sends a well-formed amount that is then refused.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, PlainSerializer, WithJsonSchema
from pydantic_core import CoreSchema, core_schema

from core.money import (
    ARD_SCALE,
    FIAT_SCALE,
    MAX_ARD,
    UNITS_PER_ARD,
    UNITS_PER_USDC,
    USDC_SCALE,
    MoneyError,
    parse_amount,
    units_to_ard,
)

MAX_PRICE_USDC = 1_000
MAX_DEPOSIT_FIAT = 1_000_000


@dataclass(frozen=True)
class Exact:
    """Pydantic metadata for an exact decimal input: a plain decimal string or (`numbers`) a
    JSON number, with at most `scale` decimals, from 0 (excluded when `positive`) to `maximum`
    (a power of ten). With `units`, the value becomes integer units (`units` per whole)."""

    scale: int
    maximum: int
    positive: bool = True
    numbers: bool = True  # query strings are text: only bodies take JSON numbers
    units: int | None = None
    example: str = ""

    def parse(self, value: object) -> Decimal | int:
        amount = parse_amount(value, self.scale)
        if not (amount > 0 if self.positive else amount >= 0) or amount > self.maximum:
            low = "greater than 0" if self.positive else "at least 0"
            raise MoneyError(f"must be {low} and at most {self.maximum:,}")
        return int(amount * self.units) if self.units else amount

    def pattern(self) -> str:
        """Plain decimals in range, without leading zeros."""
        digits, scale = len(str(self.maximum)) - 1, self.scale
        decimals = rf"(\.\d{{1,{scale}}})?"
        below = [rf"[1-9]\d{{0,{digits - 1}}}{decimals}"] if digits else []
        if self.positive:
            fraction = "|".join(rf"0{{{i}}}[1-9]\d{{0,{scale - 1 - i}}}" for i in range(scale))
            below.append(rf"0\.({fraction})")
        else:
            below.append(rf"0{decimals}")
        return rf"^({'|'.join(below)}|{self.maximum}(\.0{{1,{scale}}})?)$"

    def json_schema(self) -> dict[str, Any]:
        low = "greater than 0" if self.positive else "from 0"
        text = {"type": "string", "pattern": self.pattern()}
        documented: dict[str, Any] = {
            "description": f"{low}, at most {self.maximum:,}, with at most {self.scale} decimals",
            "examples": [self.example] if self.example else [],
        }
        if not self.numbers:
            return text | documented
        bound = {"exclusiveMinimum": 0} if self.positive else {"minimum": 0}
        number = {"type": "number", **bound, "maximum": self.maximum, "multipleOf": 10**-self.scale}
        return {"anyOf": [text, number]} | documented

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.parse, handler(source))

    def __get_pydantic_json_schema__(
        self, _: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return self.json_schema()


ArdIn = Annotated[int, Exact(ARD_SCALE, MAX_ARD, units=UNITS_PER_ARD, example="12.500")]
"""A positive ARD amount (at most 1,000,000,000) with at most 3 decimals, as integer units."""

PriceIn = Annotated[int, Exact(USDC_SCALE, MAX_PRICE_USDC, units=UNITS_PER_USDC, example="0.005")]
"""A listing price in USDC (0 < price ≤ 1000), as integer units."""

UsdcFilter = Annotated[
    int,
    Exact(USDC_SCALE, MAX_PRICE_USDC, positive=False, numbers=False, units=UNITS_PER_USDC),
]
"""A price bound in a query string, as integer units."""

FiatIn = Annotated[Decimal, Exact(FIAT_SCALE, MAX_DEPOSIT_FIAT, example="25.00")]
"""A fiat amount (0 < amount ≤ 1,000,000, 2 decimals), kept as an exact Decimal."""

ArdOut = Annotated[
    int,
    PlainSerializer(units_to_ard, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["12.500"]}),
]
"""Integer units, shown as an ARD string with 3 decimals."""
