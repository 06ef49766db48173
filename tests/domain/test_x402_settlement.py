"""The facilitator client reconciles before it decides (ADR 0029), against the local facilitator
over HTTP."""

from collections.abc import AsyncIterator

import pytest
from x402.schemas import PaymentRequirements

from core.errors import Unavailable
from core.settings import Settings
from domain.purchases import x402
from tests.x402_facilitator import Facilitator

PAY_TO = "0x" + "ab" * 20


@pytest.fixture
async def facilitator() -> AsyncIterator[Facilitator]:
    async with Facilitator() as running:
        yield running


def _settings(url: str) -> Settings:
    return Settings(
        environment="development",
        payment_mode="testnet",
        x402_pay_to=PAY_TO,
        x402_facilitator_url=url,
    )


async def test_a_lost_answer_is_found_and_never_settled_twice(facilitator: Facilitator) -> None:
    chain, settings = facilitator.chain, _settings(facilitator.url)
    asked = x402.requirements(settings, 5_000)
    payer = chain.wallet(funds=10_000)
    payload = x402.decode(chain.pay(payer, asked.model_dump(by_alias=True, mode="json")))
    async with x402.Facilitator(settings) as client:
        assert await client.settlement(payload, asked) is None  # nothing settled yet
        chain.lose_settle_answers = 1
        with pytest.raises(Unavailable):
            await client.settle(payload, asked)
        found = await client.settlement(payload, asked)
        assert found is not None and found.transaction
        assert (await client.settle(payload, asked, retried=True)).transaction == found.transaction
        # even a retry that does not say so reconciles after the refusal
        assert (await client.settle(payload, asked)).transaction == found.transaction
        other_terms = PaymentRequirements.model_validate(
            {**asked.model_dump(by_alias=True), "amount": "9000"}
        )
        assert await client.settlement(payload, other_terms) is None
    assert chain.balances[payer] == 5_000 and len(chain.settled) == 1


async def test_without_a_lookup_a_refusal_stands(facilitator: Facilitator) -> None:
    chain, settings = facilitator.chain, _settings(facilitator.url)
    asked = x402.requirements(settings, 5_000)
    payload = x402.decode(
        chain.pay(chain.wallet(funds=10_000), asked.model_dump(by_alias=True, mode="json"))
    )
    chain.status_enabled, chain.refuse_settles = False, "insufficient_funds"
    async with x402.Facilitator(settings) as client:
        with pytest.raises(x402.PaymentInvalid):
            await client.settle(payload, asked, retried=True)
    assert chain.status_calls == 2 and chain.settled == {}
