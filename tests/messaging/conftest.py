"""Messaging fixtures: Twilio accounts that own numbers, through the SDK's replaced HTTP transport."""

import pytest

from .twilio_numbers import TwilioNumbers


@pytest.fixture
def twilio_numbers(twilio_fake, settings):
    """The fake Twilio API with IncomingPhoneNumbers; give accounts numbers with `.give(settings, number)`."""
    settings.TWILIO_HTTP_CLIENT = "tests.messaging.twilio_numbers.NumbersTwilioHttpClient"
    TwilioNumbers.reset()
    yield TwilioNumbers
    TwilioNumbers.reset()
