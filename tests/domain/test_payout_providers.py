"""Payout providers: Razorpay against a local fake over real HTTP, the simulation, and amounts."""

import socket
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Unavailable
from core.money import MAX_UNITS
from core.settings import Settings
from domain.redemptions.providers import (
    PayoutOrder,
    PayoutRefused,
    RazorpayProvider,
    SimulatedProvider,
    payout_amount,
    provider_for,
)
from tests.razorpay_fake import RazorpayFake

ACCOUNT = "7878780080316316"  # the platform's Razorpay X account
TEN_THOUSAND_ARD = 10_000_000  # units
BANK = {
    "account_number": "1121431121541121",
    "ifsc": "HDFC0000053",
    "account_holder_name": "Gaurav Kumar",
}
RATES = {"USD": "0.001", "INR": "0.084", "EUR": "0.00092", "GBP": "0.00079"}


def razorpay_settings(
    url: str, key_id: str = "rzp_test_key", secret: str = "rzp_test_secret"
) -> Settings:
    return Settings(
        razorpay_base_url=url,
        razorpay_key_id=key_id,
        razorpay_key_secret=secret,
        razorpay_account_number=ACCOUNT,
    )


def order(
    redemption_type: str = "upi",
    details: dict[str, Any] | None = None,
    *,
    units: int = TEN_THOUSAND_ARD,
    currency: str = "INR",
) -> PayoutOrder:
    if details is None:
        details = BANK if redemption_type == "bank_withdrawal" else {"upi_id": "creator@okaxis"}
    return PayoutOrder(uuid.uuid4(), redemption_type, units, currency, dict(details))


@pytest.fixture
async def fake() -> AsyncIterator[RazorpayFake]:
    async with RazorpayFake() as running:
        yield running


@pytest.fixture
def razorpay(fake: RazorpayFake) -> RazorpayProvider:
    return RazorpayProvider(razorpay_settings(fake.url))


# --- Razorpay, over HTTP -----------------------------------------------------------------------


async def test_upi_payout_sends_the_razorpay_body(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    upi = order("upi", {"upi_id": "creator@okaxis", "name": "Asha Rao"})
    reference = await razorpay.pay(upi)
    assert reference.startswith("pout_")
    payout = fake.payouts[reference]
    assert payout["idempotency_key"] == str(upi.redemption_id)
    assert payout["account_number"] == ACCOUNT
    assert (payout["amount"], payout["currency"]) == (84_000, "INR")  # 840 INR in paise
    assert (payout["mode"], payout["purpose"], payout["narration"]) == (
        "UPI",
        "payout",
        "AgentChains payout",
    )
    assert payout["queue_if_low_balance"] is True
    assert payout["reference_id"] == str(upi.redemption_id)
    assert payout["fund_account"] == {
        "account_type": "vpa",
        "vpa": {"address": "creator@okaxis"},
        "contact": {"name": "Asha Rao", "type": "vendor", "reference_id": str(upi.redemption_id)},
    }


async def test_bank_payout_goes_by_imps_to_the_account(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    bank = order("bank_withdrawal", units=12_345_678)  # 12,345.678 ARD -> 1037.036952 INR
    payout = fake.payouts[await razorpay.pay(bank)]
    assert payout["amount"] == 103_703  # paise, rounded down
    assert payout["mode"] == "IMPS"
    account = payout["fund_account"]
    assert account["account_type"] == "bank_account"
    assert account["bank_account"] == {
        "name": BANK["account_holder_name"],
        "ifsc": BANK["ifsc"],
        "account_number": BANK["account_number"],
    }
    assert account["contact"]["name"] == "Gaurav Kumar"


@pytest.mark.parametrize("currency", ["USD", "EUR", "GBP"])
async def test_razorpay_pays_other_currencies_in_inr(
    fake: RazorpayFake, razorpay: RazorpayProvider, currency: str
) -> None:
    # Razorpay X pays INR only: the credits are converted at the INR rate (same value).
    payout = fake.payouts[await razorpay.pay(order("upi", currency=currency))]
    assert (payout["amount"], payout["currency"]) == (84_000, "INR")


async def test_a_retried_payout_pays_once(fake: RazorpayFake, razorpay: RazorpayProvider) -> None:
    upi = order()
    first = await razorpay.pay(upi)
    assert await razorpay.pay(upi) == first
    assert fake.calls == 2 and list(fake.payouts) == [first]


async def test_a_lost_answer_is_retried_into_the_same_payout(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    fake.lose_answers = 1  # the payout is made, the answer is a 500
    upi = order()
    with pytest.raises(Unavailable):
        await razorpay.pay(upi)
    reference = await razorpay.pay(upi)
    assert list(fake.payouts) == [reference]


async def test_a_payout_whose_answer_was_lost_is_found_by_its_reference(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    upi, other = order(), order()
    assert await razorpay.find(upi) is None  # nothing paid yet
    fake.lose_answers = 1
    with pytest.raises(Unavailable):
        await razorpay.pay(upi)
    [made] = fake.payouts
    assert await razorpay.find(upi) == made
    assert await razorpay.find(other) is None  # another redemption's reference
    fake.payouts[made]["status"] = "reversed"  # the money came back: not paid
    assert await razorpay.find(upi) is None
    assert fake.lookups == 4 and fake.calls == 1


async def test_a_look_up_without_an_answer_decides_nothing(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    fake.fail_lookups = 1
    with pytest.raises(Unavailable):
        await razorpay.find(order())


async def test_server_errors_are_unavailable_and_pay_nothing(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    fake.fail_next = 2
    upi = order()
    for _ in range(2):
        with pytest.raises(Unavailable, match="500"):
            await razorpay.pay(upi)
    assert fake.payouts == {}
    assert await razorpay.pay(upi) in fake.payouts
    fake.always_fail = True
    with pytest.raises(Unavailable):
        await razorpay.pay(order())
    assert len(fake.payouts) == 1


async def test_throttling_is_unavailable(fake: RazorpayFake, razorpay: RazorpayProvider) -> None:
    fake.fail_next, fake.fail_status = 1, 429
    with pytest.raises(Unavailable, match="429"):
        await razorpay.pay(order())


async def test_a_bad_request_is_refused_with_razorpays_description(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    bad_ifsc = order("bank_withdrawal", {**BANK, "ifsc": "HDFC53"})
    with pytest.raises(PayoutRefused, match="ifsc must be 11 characters") as refused:
        await razorpay.pay(bad_ifsc)
    assert refused.value.code == "payout_refused" and refused.value.status == 422
    with pytest.raises(PayoutRefused, match="Invalid VPA"):
        await razorpay.pay(order("upi", {"upi_id": "creator@123"}))
    assert fake.payouts == {}


async def test_wrong_keys_are_a_final_refusal(fake: RazorpayFake) -> None:
    # Decision: 401 is PayoutRefused, not Unavailable. Keys are read once per process, so a
    # retry cannot fix them; refusing returns the credits now and pays nothing.
    wrong = RazorpayProvider(razorpay_settings(fake.url, secret="not-the-secret"))
    with pytest.raises(PayoutRefused, match="credentials"):
        await wrong.pay(order())
    assert fake.calls == 1 and fake.payouts == {}


async def test_a_payout_rejected_at_once_is_refused(
    fake: RazorpayFake, razorpay: RazorpayProvider
) -> None:
    fake.payout_status = "rejected"
    with pytest.raises(PayoutRefused, match="rejected: Beneficiary bank"):
        await razorpay.pay(order())


async def test_unreachable_and_slow_providers_are_unavailable(fake: RazorpayFake) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nobody = RazorpayProvider(razorpay_settings(f"http://127.0.0.1:{closed_port}"))
    with pytest.raises(Unavailable, match="did not answer"):
        await nobody.pay(order())
    fake.delay_seconds = 2.0
    impatient = RazorpayProvider(razorpay_settings(fake.url), timeout_seconds=1)
    with pytest.raises(Unavailable, match="Timeout"):
        await impatient.pay(order())


@pytest.mark.parametrize(
    ("redemption_type", "details", "currency", "reason"),
    [
        ("upi", {}, "INR", "upi_id is required"),
        ("upi", {"upi_id": "  "}, "INR", "upi_id is required"),
        ("upi", {"upi_id": "no-at-sign"}, "INR", "name@domain"),
        (
            "bank_withdrawal",
            {**BANK, "account_holder_name": None},
            "INR",
            "account_holder_name is required",
        ),
        (
            "bank_withdrawal",
            {"ifsc": "HDFC0000053", "account_holder_name": "A"},
            "INR",
            "account_number",
        ),
        ("upi", {"upi_id": "creator@okaxis"}, "JPY", "not supported"),
    ],
)
async def test_razorpay_refuses_before_calling(
    fake: RazorpayFake,
    razorpay: RazorpayProvider,
    redemption_type: str,
    details: dict[str, Any],
    currency: str,
    reason: str,
) -> None:
    with pytest.raises(PayoutRefused, match=reason):
        await razorpay.pay(order(redemption_type, details, currency=currency))
    assert fake.calls == 0


# --- Choosing a provider ---------------------------------------------------------------------


def test_razorpay_pays_upi_and_bank_when_its_keys_are_set() -> None:
    keyed = razorpay_settings("http://razorpay.invalid")
    assert isinstance(provider_for(keyed, "upi"), RazorpayProvider)
    assert isinstance(provider_for(keyed, "bank_withdrawal"), RazorpayProvider)
    assert provider_for(keyed, "gift_card").name == "simulated"
    for half_keyed in (
        razorpay_settings("http://razorpay.invalid", key_id=""),
        razorpay_settings("http://razorpay.invalid", secret=""),
    ):
        assert isinstance(provider_for(half_keyed, "upi"), SimulatedProvider)
    for redemption_type in ("api_credits", "cheque"):
        with pytest.raises(ValueError, match="not paid by a provider"):
            provider_for(keyed, redemption_type)


# --- The simulation ----------------------------------------------------------------------------


async def test_the_simulation_answers_the_same_reference_for_the_same_order() -> None:
    simulated = SimulatedProvider()
    gift = order("gift_card", {"email": "asha@example.com"}, currency="USD")
    reference = await simulated.pay(gift)
    assert reference == f"sim_{gift.redemption_id.hex}" == await simulated.pay(gift)
    assert await simulated.pay(order("bank_withdrawal", currency="EUR")) != reference
    assert await simulated.find(gift) is None  # it pays nothing, and never loses an answer


@pytest.mark.parametrize(
    ("payout", "reason"),
    [
        (order("gift_card", {}), "email is required"),
        (order("gift_card", {"email": "asha@"}), "name@domain"),
        (order("upi", {"upi_id": 42}), "upi_id is required"),
        (order("bank_withdrawal", {"account_number": "1", "name": "A"}), "ifsc is required"),
        (order("upi", units=1_000, currency="GBP"), "less than one minor unit"),
        (order("upi", currency="JPY"), "not supported"),
    ],
)
async def test_the_simulation_refuses_bad_orders(payout: PayoutOrder, reason: str) -> None:
    with pytest.raises(PayoutRefused, match=reason):
        await SimulatedProvider().pay(payout)


async def test_api_credits_never_reach_a_provider() -> None:
    with pytest.raises(ValueError, match="not paid by a provider"):
        await SimulatedProvider().pay(order("api_credits", {}))


# --- Amounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "currency", "minor"),
    [
        (TEN_THOUSAND_ARD, "USD", 1_000),  # $10.00
        (TEN_THOUSAND_ARD, "INR", 84_000),  # 840 INR
        (TEN_THOUSAND_ARD, "EUR", 920),  # 9.20 EUR
        (TEN_THOUSAND_ARD, "GBP", 790),  # 7.90 GBP
        (0, "INR", 0),
        (1_000, "USD", 0),  # 1 ARD = 0.1 cent
        (10_000, "USD", 1),  # 10 ARD = 1 cent
        (19_999, "USD", 1),  # 1.9999 cents, floored
        (1_000, "INR", 8),  # 8.4 paise
        (11_000, "EUR", 1),  # 1.012 cents
        (12_000, "GBP", 0),  # 0.948 pence
        (13_000, "GBP", 1),  # 1.027 pence
        (MAX_UNITS, "GBP", 79_000_000),  # 1e9 ARD = 790,000 GBP
    ],
)
def test_payout_amount_is_in_minor_units_rounded_down(
    units: int, currency: str, minor: int
) -> None:
    assert payout_amount(units, currency) == minor


@given(st.integers(min_value=0, max_value=MAX_UNITS), st.sampled_from(sorted(RATES)))
def test_payout_amount_is_the_exact_value_floored(units: int, currency: str) -> None:
    exact = Fraction(units) * Fraction(Decimal(RATES[currency])) * 100 / 1_000
    paid = payout_amount(units, currency)
    assert isinstance(paid, int)
    assert paid <= exact < paid + 1


@pytest.mark.parametrize(("units", "currency"), [(-1, "USD"), (True, "USD"), (1_000, "JPY")])
def test_payout_amount_refuses_what_it_cannot_convert(units: int, currency: str) -> None:
    with pytest.raises(ValueError):
        payout_amount(units, currency)
