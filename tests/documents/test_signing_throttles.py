"""The signing page and the signing API are rate limited per client address and per link."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from documents.models import DocumentSignature
from documents.services import hash_token
from tenancy.context import company_context

from ..factories import DocumentSignatureFactory

TOKEN_A = "a" * 43
TOKEN_B = "b" * 43


@pytest.fixture
def low_public_rates(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public": "6/min", "public_key": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def link(company, user, token):
    return DocumentSignatureFactory(
        document__file__company=company,
        document__file__user=user,
        document__status="sent",
        status="sent",
        token_hash=hash_token(token),
    )


@pytest.fixture
def link_a(company_a, user_a):
    return link(company_a, user_a, TOKEN_A)


@pytest.fixture
def link_b(company_b, user_b):
    return link(company_b, user_b, TOKEN_B)


def test_the_default_rates_leave_a_signer_room(settings):
    """A signer opens, reads and signs in a handful of requests; the defaults allow 30 a minute per link."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates["public"] == "120/min" and rates["public_key"] == "30/min"


@pytest.mark.usefixtures("low_public_rates")
def test_a_flood_on_one_link_is_refused_on_the_api_and_the_page_and_another_link_passes(
    company_a, link_a, link_b
):
    """Three reads of A's link pass from anywhere; the fourth, on the API or the page, is a 429."""
    answers = [
        APIClient(REMOTE_ADDR=f"198.51.100.{index}").get(f"/api/public/signatures/{TOKEN_A}")
        for index in range(3)
    ]
    api_refused = APIClient(REMOTE_ADDR="198.51.100.9").get(f"/api/public/signatures/{TOKEN_A}")
    page_refused = Client(REMOTE_ADDR="198.51.100.10").get(f"/sign/{TOKEN_A}")
    sign_refused = APIClient(REMOTE_ADDR="198.51.100.11").post(
        f"/api/public/signatures/{TOKEN_A}/sign", {"typed_name": "Ada"}, format="json"
    )
    other = APIClient(REMOTE_ADDR="198.51.100.1").get(f"/api/public/signatures/{TOKEN_B}")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert api_refused.status_code == 429 and api_refused.json()["detail"]
    assert int(api_refused["Retry-After"]) > 0
    assert page_refused.status_code == 429 and int(page_refused["Retry-After"]) > 0
    assert b"Too many requests" in page_refused.content
    assert sign_refused.status_code == 429
    with company_context(company_a):
        assert DocumentSignature.objects.get(pk=link_a.pk).status == "viewed"
    assert other.status_code == 200


@pytest.mark.usefixtures("low_public_rates")
def test_a_flood_from_one_address_is_refused_whatever_link_it_tries(link_a):
    """An address guessing links gets six answers, then 429 on the page and the API alike."""
    web, api = Client(REMOTE_ADDR="203.0.113.70"), APIClient(REMOTE_ADDR="203.0.113.70")
    guesses = [api.get(f"/api/public/signatures/guess{index}") for index in range(3)]
    guesses += [web.get(f"/sign/guess{index}") for index in range(3, 6)]

    assert [answer.status_code for answer in guesses] == [404] * 6
    assert api.get(f"/api/public/signatures/{TOKEN_A}").status_code == 429
    assert web.get(f"/sign/{TOKEN_A}").status_code == 429
    assert APIClient(REMOTE_ADDR="203.0.113.71").get(f"/api/public/signatures/{TOKEN_A}").status_code == 200
