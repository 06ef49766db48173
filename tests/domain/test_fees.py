from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.money import MAX_UNITS
from domain.ledger import TIERS, quality_bonus, split
from domain.ledger.accounts import tier_for_volume

FEE, BURN = Decimal("0.02"), Decimal("0.50")


@given(
    st.integers(min_value=1, max_value=MAX_UNITS),
    st.sampled_from([t.discount for t in TIERS]),
    st.decimals(min_value=0, max_value=Decimal("0.2"), places=4),
    st.decimals(min_value=0, max_value=1, places=3),
)
def test_parts_always_add_up_to_the_amount(
    amount: int, discount: Decimal, fee_pct: Decimal, burn_pct: Decimal
) -> None:
    parts = split(amount, fee_pct, burn_pct, discount)
    assert parts.receiver + parts.treasury + parts.burned == amount
    assert 0 <= parts.burned <= parts.fee <= amount
    assert parts.treasury >= 0 and parts.receiver >= 0


def test_the_documented_rounding_rule() -> None:
    assert split(1000, FEE, BURN).fee == 20  # 2% of 1 ARD
    assert split(25, FEE, BURN).fee == 1  # 0.5 rounds half up
    assert split(24, FEE, BURN).fee == 0  # 0.48 rounds down
    parts = split(75, FEE, BURN)  # fee 1.5 -> 2, burn floor(1.0) = 1
    assert (parts.fee, parts.burned, parts.treasury) == (2, 1, 1)
    odd = split(150, FEE, BURN)  # fee 3 -> burn floor(1.5) = 1, treasury 2
    assert (odd.fee, odd.burned, odd.treasury, odd.receiver) == (3, 1, 2, 147)
    assert split(1000, FEE, BURN, Decimal("0.5")).fee == 10


def test_tiers_follow_lifetime_volume() -> None:
    assert tier_for_volume(0).name == "bronze"
    assert tier_for_volume(9_999_999).name == "bronze"
    assert tier_for_volume(10_000_000).name == "silver"
    assert tier_for_volume(100_000_000).name == "gold"
    assert tier_for_volume(1_000_000_000).name == "platinum"


@given(
    st.integers(min_value=1, max_value=MAX_UNITS),
    st.sampled_from([t.discount for t in TIERS]),
    st.decimals(min_value=0, max_value=Decimal("0.2"), places=4),
    st.decimals(min_value=0, max_value=1, places=3),
    st.decimals(min_value=0, max_value=Decimal("0.999"), places=3),
)
def test_a_quality_bonus_is_always_less_than_the_fee_of_its_sale(
    amount: int, discount: Decimal, fee_pct: Decimal, bonus_pct: Decimal, share: Decimal
) -> None:
    parts = split(amount, fee_pct, BURN, discount)
    bonus = quality_bonus(parts.receiver, parts.fee, bonus_pct, share)
    assert 0 <= bonus <= parts.receiver
    assert bonus < parts.fee or bonus == parts.fee == 0  # buyer + seller always pay the platform


def test_the_documented_quality_bonus() -> None:
    price = 5_000  # 5 ARD: fee 100, proceeds 4,900; 10% of the proceeds would be 490
    parts = split(price, FEE, BURN)
    assert quality_bonus(parts.receiver, parts.fee, Decimal("0.10"), Decimal("0.5")) == 50
    assert quality_bonus(parts.receiver, parts.fee, Decimal("0.005"), Decimal("0.5")) == 24
