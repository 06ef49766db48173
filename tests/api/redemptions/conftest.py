"""A fake Razorpay X that the API and the worker pay through, with three payout attempts."""

from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from tests.razorpay_fake import RazorpayFake


@pytest.fixture
async def razorpay() -> AsyncIterator[RazorpayFake]:
    async with RazorpayFake() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, razorpay: RazorpayFake) -> Settings:
    settings.razorpay_key_id, settings.razorpay_key_secret = razorpay.key_id, razorpay.key_secret
    settings.razorpay_base_url = razorpay.url
    settings.razorpay_account_number = "7878780080316316"
    settings.redemption_payout_attempts = 3
    return settings
