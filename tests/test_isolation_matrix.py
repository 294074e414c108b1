"""Every tenant viewset on the API router keeps each company's rows away from the other company."""

import pytest
from django.db import transaction

from config.urls import router
from crm.api import AccountViewSet, ContactViewSet, DealViewSet
from messaging.api.sms import SmsConversationViewSet
from tenancy.api import TenantViewSet
from tenancy.api.audit import AuditLogViewSet
from tenancy.api.companies import CompanyViewSet
from tenancy.api.users import UserViewSet

from . import leaky
from .isolation import (
    Tenants,
    check_foreign_references_refused,
    check_foreign_rows_hidden,
    registration_for,
    tenant_routes,
)

ROUTES = tenant_routes(router)
ROUTE_IDS = [viewset.__name__ for _, viewset in ROUTES]


@pytest.fixture
def tenants(company_a, company_b, user_a, user_b, client_a, client_b):
    return Tenants(company_a, company_b, user_a, user_b, client_a, client_b)


# Router viewsets that are not TenantViewSets: each reads only through tenant managers, and the
# named tests prove for two companies that one never sees or changes the other's data.
DERIVED_VIEWSETS = {
    AuditLogViewSet: [
        "tests/tenancy/test_audit_log_access.py::test_owners_and_admins_read_only_their_companys_entries",
        "tests/tenancy/test_audit_log_access.py::test_another_companys_entry_is_a_404_by_id",
        "tests/tenancy/test_audit_log_access.py::test_the_audit_log_cannot_be_written_through_the_api",
        "tests/tenancy/test_audit_log_access.py::test_a_super_admin_reads_every_entry_or_one_companys",
    ],
    UserViewSet: [
        "tests/tenancy/test_users_api.py::test_everyone_lists_their_own_companys_users_only",
        "tests/tenancy/test_users_api.py::test_another_companys_user_is_a_404_and_stays_unchanged",
        "tests/tenancy/test_users_api.py::test_a_super_admin_reads_every_companys_users_and_writes_inside_one",
    ],
    CompanyViewSet: [
        "tests/tenancy/test_companies_api.py::test_company_users_are_refused_every_companies_path",
        "tests/tenancy/test_companies_api.py::test_a_super_admin_lists_every_company_or_the_one_the_header_names",
    ],
    SmsConversationViewSet: [
        "tests/messaging/test_sms.py::test_conversations_list_one_entry_per_contact_with_latest_message_and_unread_count",
        "tests/messaging/test_sms.py::test_conversation_messages_are_listed_oldest_first",
        "tests/messaging/test_sms.py::test_conversation_detail_summarises_one_contact_and_one_number",
        "tests/messaging/test_sms.py::test_marking_a_conversation_read_touches_only_its_inbound_texts",
        "tests/messaging/test_sms.py::test_marking_a_number_conversation_read_stays_inside_the_company",
    ],
}


def test_every_router_viewset_is_covered_by_the_matrix():
    """A viewset outside the matrix must be a TenantViewSet or name the tests that isolate it."""
    uncovered = [
        viewset.__name__
        for _, viewset, _ in router.registry
        if not issubclass(viewset, TenantViewSet) and viewset not in DERIVED_VIEWSETS
    ]
    assert not uncovered, (
        f"{uncovered} are on the API router but not TenantViewSets, so the isolation matrix cannot "
        "walk them: build them on TenantViewSet, or list their two-company tests in DERIVED_VIEWSETS."
    )


def test_derived_viewsets_name_tests_that_exist():
    """Each test named for a derived viewset exists, so the list cannot rot."""
    import importlib

    for tests in DERIVED_VIEWSETS.values():
        for node in tests:
            path, name = node.split("::")
            module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
            assert callable(getattr(module, name, None)), f"{node} does not exist"


def test_matrix_walks_the_sales_core_viewsets():
    """The router walk finds the viewsets registered today."""
    assert {AccountViewSet, ContactViewSet, DealViewSet} <= {viewset for _, viewset in ROUTES}


@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=ROUTE_IDS)
def test_other_company_cannot_list_read_change_or_delete_rows(prefix, viewset, tenants):
    """Company B gets 404 for company A's row on every path, and A's row stays as it was."""
    check_foreign_rows_hidden(f"/api/{prefix}", viewset, tenants)


@pytest.mark.parametrize(("prefix", "viewset"), ROUTES, ids=ROUTE_IDS)
def test_other_company_cannot_point_at_rows(prefix, viewset, tenants):
    """Company B's create or change naming company A's related rows is a 400 on that field."""
    check_foreign_references_refused(f"/api/{prefix}", viewset, tenants)


def test_unregistered_viewset_fails_the_matrix_with_instructions():
    """A viewset whose model has no registration fails, naming the viewset and the fix."""
    with pytest.raises(
        AssertionError, match=r"ContactViewSet .* Register it in a module of tests/registrations/"
    ):
        registration_for(ContactViewSet, registry={})


CANARIES = [
    ("every-company-list", leaky.EveryCompanyListViewSet, check_foreign_rows_hidden, "B's list shows"),
    ("foreign-patch", leaky.ForeignPatchViewSet, check_foreign_rows_hidden, "B's PATCH .* answered 200"),
    ("foreign-delete", leaky.ForeignDeleteViewSet, check_foreign_rows_hidden, "B's DELETE .* answered 204"),
    ("hard-delete", leaky.HardDeleteViewSet, check_foreign_rows_hidden, "must mark the row deleted"),
    (
        "foreign-restore",
        leaky.ForeignRestoreViewSet,
        check_foreign_rows_hidden,
        "B's restore of company A's row answered 200",
    ),
    (
        "every-company-account",
        leaky.EveryCompanyAccountViewSet,
        check_foreign_references_refused,
        "POST with account = company A's Account answered 400 .*detail.*not a 400 keyed on 'account'",
    ),
    (
        "unguarded-save",
        leaky.UnguardedSaveViewSet,
        check_foreign_references_refused,
        "POST with account = company A's Account answered 201",
    ),
]


@pytest.mark.urls("tests.urls_leaky")
@pytest.mark.parametrize(
    ("prefix", "viewset", "check", "failure"), CANARIES, ids=[prefix for prefix, *_ in CANARIES]
)
def test_matrix_catches_leaky_viewset(prefix, viewset, check, failure, tenants):
    """The matrix's own checks fail on a viewset that leaks across companies."""
    # The savepoint drops what a leak stored, which PostgreSQL's deferred composite keys would refuse.
    with pytest.raises(AssertionError, match=failure), transaction.atomic():
        check(f"/api/leaky/{prefix}", viewset, tenants)


@pytest.mark.urls("tests.urls_leaky")
def test_leaky_urlconf_still_serves_a_sound_viewset(tenants):
    """The canary URLconf itself does not break the checks on a sound viewset."""
    check_foreign_rows_hidden("/api/contacts", ContactViewSet, tenants)
    check_foreign_references_refused("/api/contacts", ContactViewSet, tenants)
