"""Suite-wide fixtures: two companies, their users, a super admin, and authenticated API clients."""

import os

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from tenancy.auth import issue_tokens

from .factories import CompanyFactory, SuperAdminFactory, UserFactory

SKIPPED_FOR_NO_POSTGRES: list[str] = []


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI") == "true":
        pytest.exit("CI runs the suite on PostgreSQL; DATABASE_URL does not point at PostgreSQL.", 2)
    skip = pytest.mark.skip(reason="needs PostgreSQL, which is not available here")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
            SKIPPED_FOR_NO_POSTGRES.append(item.nodeid)


def pytest_terminal_summary(terminalreporter):
    if SKIPPED_FOR_NO_POSTGRES:
        terminalreporter.section("SKIPPED: no PostgreSQL", sep="#")
        for nodeid in SKIPPED_FOR_NO_POSTGRES:
            terminalreporter.write_line(f"skipped without PostgreSQL: {nodeid}")


@pytest.fixture(autouse=True)
def _fast_and_clean(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def company_a(db):
    return CompanyFactory(name="Company A")


@pytest.fixture
def company_b(db):
    return CompanyFactory(name="Company B")


@pytest.fixture
def user_a(company_a):
    return UserFactory(company=company_a, role="owner")


@pytest.fixture
def user_b(company_b):
    return UserFactory(company=company_b, role="owner")


@pytest.fixture
def super_admin(db):
    return SuperAdminFactory()


def bearer_client(user) -> APIClient:
    """An API client that sends the user's access token, as the single-page app does."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access_token']}")
    return client


@pytest.fixture
def client_a(user_a):
    return bearer_client(user_a)


@pytest.fixture
def client_b(user_b):
    return bearer_client(user_b)


@pytest.fixture
def admin_client_api(super_admin):
    return bearer_client(super_admin)


@pytest.fixture
def twilio_fake(settings):
    """Twilio reached through the SDK with only its HTTP transport replaced."""
    from .fakes import FakeTwilio

    settings.TWILIO_DRY_RUN = False
    settings.TWILIO_HTTP_CLIENT = "tests.fakes.FakeTwilioHttpClient"
    FakeTwilio.reset()
    yield FakeTwilio
    FakeTwilio.reset()
