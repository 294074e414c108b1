"""Twilio's voice webhooks are rate limited per sending address and per number, each company apart."""

import pytest
from django.test import Client

from calls.models import Call
from tenancy.context import company_context

from ..factories import TwilioSettingsFactory
from ..fakes import post_twilio_webhook

INBOUND = "/api/twilio/voice/inbound"


@pytest.fixture
def low_webhook_rates(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "webhook": "6/min", "webhook_key": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def ring(number, index: int) -> dict:
    return {
        "CallSid": f"CA{index:032x}",
        "From": "+14155550777",
        "To": number.number,
        "CallStatus": "ringing",
    }


def calls_of(company) -> int:
    with company_context(company):
        return Call.objects.count()


@pytest.mark.usefixtures("low_webhook_rates")
def test_a_flood_of_calls_to_one_number_is_refused_and_another_companys_number_is_not(
    company_a, company_b, number_a, number_b
):
    """Calls to A's number: three answered, the fourth a 429 writing nothing; B's number still rings."""
    token_a = TwilioSettingsFactory(company=company_a).auth_token
    token_b = TwilioSettingsFactory(company=company_b).auth_token
    answers = [
        post_twilio_webhook(
            Client(REMOTE_ADDR=f"198.51.100.{index}"), INBOUND, ring(number_a, index), token_a
        )
        for index in range(4)
    ]
    b_answer = post_twilio_webhook(Client(REMOTE_ADDR="198.51.100.1"), INBOUND, ring(number_b, 9), token_b)

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and answers[-1].json()["detail"]
    assert calls_of(company_a) == 3
    assert b_answer.status_code == 200 and calls_of(company_b) == 1


@pytest.mark.usefixtures("low_webhook_rates")
def test_a_flood_of_callbacks_from_one_address_is_refused(company_a, number_a):
    """Status callbacks (our number in ?number=) from one address: six answered, the seventh a 429."""
    web = Client(REMOTE_ADDR="203.0.113.60")
    answers = [
        web.post(
            f"/api/twilio/voice/status?number=%2B1202555{index:04d}", {}, HTTP_X_TWILIO_SIGNATURE="forged"
        )
        for index in range(7)
    ]

    assert [answer.status_code for answer in answers] == [403] * 6 + [429]
    assert int(answers[-1]["Retry-After"]) > 0
