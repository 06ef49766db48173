from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import (
    MAX_UNITS,
    UNITS_PER_USDC,
    USDC_SCALE,
    MoneyError,
    ard_to_units,
    parse_amount,
    units_to_ard,
    units_to_usdc,
)


@given(st.integers(min_value=0, max_value=MAX_UNITS))
def test_units_round_trip_through_both_notations(units: int) -> None:
    assert ard_to_units(units_to_ard(units)) == units
    assert parse_amount(units_to_usdc(units), USDC_SCALE) * UNITS_PER_USDC == units


@pytest.mark.parametrize(
    ("given", "units"),
    [
        ("1", 1000),
        ("1.5", 1500),
        ("0.001", 1),
        (2, 2000),
        (0.25, 250),
        (1e3, 1_000_000),  # a JSON number: the float 1000.0 is exact
        (Decimal("7.10"), 7100),
        ("1000000000", MAX_UNITS),
    ],
)
def test_ard_inputs(given: object, units: int) -> None:
    assert ard_to_units(given) == units


def test_fixed_scale_strings() -> None:
    assert units_to_ard(1500) == "1.500"
    assert units_to_ard(-1) == "-0.001"
    assert units_to_usdc(5000) == "0.005000"
    assert parse_amount("0.005", USDC_SCALE) * UNITS_PER_USDC == 5000
    assert parse_amount(0.000001, USDC_SCALE) * UNITS_PER_USDC == 1  # the float's repr: 1e-06


@pytest.mark.parametrize(
    "bad",
    [
        "0.0001",
        "1.5000",  # more decimals than the unit has, even as zeros
        "1e-4",
        "1e3",
        "1E1000000",  # 500 before: Decimal arithmetic overflowed
        "1e1000000",
        " 3.000 ",
        "+1",
        "-1",
        "01",
        ".5",
        "5.",
        "0x10",
        "1_000",
        "\u0661",  # an Arabic-Indic digit: Decimal() reads it, the API does not
        1e-7,
        float("inf"),
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        "abc",
        "",
        "1,5",
        None,
        True,
        [],
        {},
        "1000000000.001",
        "1e30",
        10**13,
        float("nan"),
    ],
)
def test_ard_rejects_what_is_not_an_exact_amount(bad: object) -> None:
    with pytest.raises(MoneyError):
        ard_to_units(bad)


def test_usdc_rejects_seventh_decimal() -> None:
    with pytest.raises(MoneyError):
        parse_amount("0.0000001", USDC_SCALE)


def test_formatting_refuses_non_integers() -> None:
    with pytest.raises(TypeError):
        units_to_ard(1.5)  # type: ignore[arg-type]
