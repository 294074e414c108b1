"""Twilio's SMS webhooks are rate limited per sending address and per number, each company apart."""

import pytest
from django.test import Client

from messaging.models import SmsMessage
from tenancy.context import company_context

from ..fakes import post_twilio_webhook

INBOUND = "/api/twilio/sms/inbound"


@pytest.fixture
def low_webhook_rates(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "webhook": "6/min", "webhook_key": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def text(number, index: int) -> dict:
    sid = f"SM{index:032x}"
    return {"MessageSid": sid, "SmsSid": sid, "From": "+16175550111", "To": number.number, "Body": "Hi"}


def texts_of(company) -> int:
    with company_context(company):
        return SmsMessage.objects.count()


def test_the_default_rates_let_a_busy_number_through(settings):
    """A long code sends a text a second with up to three callbacks: the defaults leave room for it."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["webhook"] == "600/min" and rates["webhook_key"] == "600/min"


@pytest.mark.usefixtures("low_webhook_rates")
def test_a_flood_on_one_number_is_refused_and_another_companys_number_is_not(
    company_a, company_b, number_a, number_b, twilio_a, twilio_b
):
    """Texts to A's number from many addresses: three pass, the fourth is a 429; B's number still passes."""
    answers = [
        post_twilio_webhook(
            Client(REMOTE_ADDR=f"198.51.100.{index}"), INBOUND, text(number_a, index), twilio_a.auth_token
        )
        for index in range(4)
    ]
    b_answer = post_twilio_webhook(
        Client(REMOTE_ADDR="198.51.100.1"), INBOUND, text(number_b, 9), twilio_b.auth_token
    )

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and answers[-1].json()["detail"]
    assert texts_of(company_a) == 3
    assert b_answer.status_code == 200 and texts_of(company_b) == 1


@pytest.mark.usefixtures("low_webhook_rates")
def test_a_flood_from_one_address_is_refused_whatever_number_it_names(company_a, number_a, twilio_a):
    """An address cycling through made-up numbers is refused after six requests, before any look-up."""
    web = Client(REMOTE_ADDR="203.0.113.50")
    answers = [
        web.post(INBOUND, {"To": f"+1202555{index:04d}", "Body": "x"}, HTTP_X_TWILIO_SIGNATURE="forged")
        for index in range(7)
    ]

    assert [answer.status_code for answer in answers] == [403] * 6 + [429]
    assert (
        post_twilio_webhook(
            Client(REMOTE_ADDR="203.0.113.51"), INBOUND, text(number_a, 1), twilio_a.auth_token
        ).status_code
        == 200
    )
