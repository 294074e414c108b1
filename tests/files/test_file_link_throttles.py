"""Signed file links are rate limited per client address and per link."""

import pytest
from rest_framework.test import APIClient

from files.services import download_link
from tenancy.context import company_context

from ..factories import FileFactory


@pytest.fixture
def low_public_rates(settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public": "6/min", "public_key": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def link_path(company) -> str:
    with company_context(company):
        url = download_link(FileFactory(company=company, content=b"price list")).url
    return "/api/" + url.split("/api/", 1)[1]


@pytest.mark.usefixtures("low_public_rates")
def test_a_flood_on_one_link_is_refused_and_another_companys_link_is_not(company_a, company_b):
    """Three downloads of A's link pass from anywhere, the fourth is a 429; B's link still downloads."""
    path_a, path_b = link_path(company_a), link_path(company_b)
    answers = [APIClient(REMOTE_ADDR=f"198.51.100.{index}").get(path_a) for index in range(4)]
    other = APIClient(REMOTE_ADDR="198.51.100.1").get(path_b)

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0 and answers[-1].json()["detail"]
    assert other.status_code == 200 and b"".join(other.streaming_content) == b"price list"


@pytest.mark.usefixtures("low_public_rates")
def test_a_flood_from_one_address_is_refused_whatever_link_it_tries(company_a):
    """An address trying made-up links gets six 404s, then a 429 even for a good link."""
    api = APIClient(REMOTE_ADDR="203.0.113.80")
    guesses = [api.get(f"/api/public/files/guess{index}") for index in range(6)]

    assert [answer.status_code for answer in guesses] == [404] * 6
    assert api.get(link_path(company_a)).status_code == 429
