"""Suite-wide fixtures: two companies, their users, a super admin, and authenticated API clients."""

import os
from contextlib import nullcontext

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from tenancy.auth import issue_tokens

from .browser import chromium
from .factories import (
    CompanyFactory,
    ContactFactory,
    PhoneNumberFactory,
    SuperAdminFactory,
    TwilioSettingsFactory,
    UserFactory,
)
from .unscoped import as_the_platform_unaudited

SKIPPED_FOR_NO_POSTGRES: list[str] = []

# Schemathesis fuzzing is opt-in (CRM_FUZZ=1) until the open findings in docs/SECURITY.md are fixed;
# left out, it is not collected at all (collecting it costs a minute of schema generation).
collect_ignore = [] if os.environ.get("CRM_FUZZ") == "1" else ["test_fuzz.py"]
BROWSER_MISSING = chromium.missing()
if BROWSER_MISSING and "playwright" in BROWSER_MISSING.lower():
    # The browser test modules import Playwright; each is named in the summary instead.
    collect_ignore += [f"browser/{path.name}" for path in chromium.TEST_MODULES]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Browser tests run last in each process, after any reordering by other plugins: Playwright's
    # synchronous API leaves an event loop running in the thread until the session ends, and a
    # later test calling asyncio.run() there would fail.
    items.sort(key=lambda item: "browser" in item.keywords)
    skip_browser_tests_without_chromium(items)
    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI") == "true":
        pytest.exit("CI runs the suite on PostgreSQL; DATABASE_URL does not point at PostgreSQL.", 2)
    skip = pytest.mark.skip(reason="needs PostgreSQL, which is not available here")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
            SKIPPED_FOR_NO_POSTGRES.append(item.nodeid)


def skip_browser_tests_without_chromium(items):
    """Without Chromium (or Playwright) the browser tests are skipped, and named; in CI that is a failure."""
    if BROWSER_MISSING is None:
        return
    if os.environ.get("CI") == "true":
        pytest.exit(f"CI runs the browser tests, but {BROWSER_MISSING}.", 2)
    skip = pytest.mark.skip(reason=f"{chromium.SKIP_REASON_PREFIX}: {BROWSER_MISSING}")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if BROWSER_MISSING is not None:
        # From the reports, which the controller also receives from xdist's workers.
        skipped = [
            report.nodeid
            for report in terminalreporter.stats.get("skipped", [])
            if chromium.SKIP_REASON_PREFIX in str(report.longrepr)
        ]
        if "playwright" in BROWSER_MISSING.lower():
            skipped += [f"tests/browser/{path.name} (not collected)" for path in chromium.TEST_MODULES]
        terminalreporter.section(f"SKIPPED: {BROWSER_MISSING}", sep="#")
        for nodeid in skipped:
            terminalreporter.write_line(f"skipped without a browser: {nodeid}")
    if SKIPPED_FOR_NO_POSTGRES:
        terminalreporter.section("SKIPPED: no PostgreSQL", sep="#")
        for nodeid in SKIPPED_FOR_NO_POSTGRES:
            terminalreporter.write_line(f"skipped without PostgreSQL: {nodeid}")


APP_ROLE = "crm_test_app"
DATABASE_OWNER: list[str] = []  # who built the test database; set by django_db_setup


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Build and migrate the test database as the owner, then run the whole suite as the app role.

    The role is like production's DATABASE_URL role: no superuser, no BYPASSRLS, owning nothing, so
    row-level security applies to every test. It is cluster-wide: created once, whichever worker wins.
    """
    if connection.vendor != "postgresql":
        yield
        return
    from django.core.management import call_command
    from django.db import DatabaseError, connections, transaction
    from psycopg import errors

    with django_db_blocker.unblock():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                )
        except DatabaseError as error:
            # Two workers racing to create it: one gets duplicate_object or a unique violation.
            if not isinstance(error.__cause__, errors.DuplicateObject | errors.UniqueViolation):
                raise
        call_command("tenancy_grant_app_role", APP_ROLE, truncate=True, verbosity=0)
    owner = connection.settings_dict["USER"]
    connections.close_all()
    connection.settings_dict["USER"] = APP_ROLE
    DATABASE_OWNER.append(owner)
    yield
    connections.close_all()
    connection.settings_dict["USER"] = owner


@pytest.fixture
def database_owner(transactional_db):
    """Connect as the owner of the tables (what `migrate` and `flush` need) for one transactional test."""
    if connection.vendor != "postgresql":
        yield
        return
    from django.db import connections

    connections.close_all()
    connection.settings_dict["USER"] = DATABASE_OWNER[0]
    yield
    connections.close_all()
    connection.settings_dict["USER"] = APP_ROLE


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
    # A platform user's sign-in is audited; the fixture's own is set-up, not an access under test.
    with nullcontext() if user.company_id else as_the_platform_unaudited():
        tokens = issue_tokens(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
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


# Messaging fixtures: a company's Twilio account known to the fake Twilio, its number and a contact.
@pytest.fixture
def twilio_a(company_a, twilio_fake):
    settings_a = TwilioSettingsFactory(company=company_a)
    twilio_fake.accounts[settings_a.account_sid] = settings_a.auth_token
    return settings_a


@pytest.fixture
def twilio_b(company_b, twilio_fake):
    settings_b = TwilioSettingsFactory(company=company_b)
    twilio_fake.accounts[settings_b.account_sid] = settings_b.auth_token
    return settings_b


@pytest.fixture
def number_a(company_a, user_a):
    return PhoneNumberFactory(company=company_a, user=user_a, number="+12025550101")


@pytest.fixture
def number_b(company_b, user_b):
    return PhoneNumberFactory(company=company_b, user=user_b, number="+12025550202")


@pytest.fixture
def contact_a(company_a):
    return ContactFactory(company=company_a, first_name="Ada", last_name="Lovelace", phone="+16175550111")


@pytest.fixture
def contact_b(company_b):
    return ContactFactory(company=company_b, first_name="Bob", last_name="Builder", phone="+16175550222")


@pytest.fixture(autouse=True)
def _private_file_storage(settings, tmp_path):
    """Each test stores files in its own temporary directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
