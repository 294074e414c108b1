"""Every tenant viewset on the API router keeps each company's rows away from the other company."""

import pytest

from crm.api import AccountViewSet, ContactViewSet, DealViewSet
from crm.urls import router

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
    with pytest.raises(AssertionError, match=failure):
        check(f"/leaky/{prefix}", viewset, tenants)


@pytest.mark.urls("tests.urls_leaky")
def test_leaky_urlconf_still_serves_a_sound_viewset(tenants):
    """The canary URLconf itself does not break the checks on a sound viewset."""
    check_foreign_rows_hidden("/api/contacts", ContactViewSet, tenants)
    check_foreign_references_refused("/api/contacts", ContactViewSet, tenants)
