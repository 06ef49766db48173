"""Money at the edge: decimal strings (or numbers) in, fixed-scale strings out, integers inside."""

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from core.money import ard_to_units, units_to_ard


def _positive_ard(value: object) -> int:
    units = ard_to_units(value)
    if units <= 0:
        raise ValueError("amount must be greater than zero")
    return units


ArdIn = Annotated[
    int,
    BeforeValidator(_positive_ard),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,3})?$", "examples": ["12.500"]}),
]
"""A positive ARD amount with at most 3 decimals, as integer units."""

ArdOut = Annotated[
    int,
    PlainSerializer(units_to_ard, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["12.500"]}),
]
"""Integer units, shown as an ARD string with 3 decimals."""
