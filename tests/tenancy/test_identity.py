"""Finding a user before any company is known: sign-in by e-mail, a token's or a session's user id."""

import uuid

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError

from tenancy.context import company_context
from tenancy.identity import TenantModelBackend, email_taken, user_before_scope
from tenancy.models import User

from ..factories import TEST_PASSWORD, UserFactory
from ..unscoped import audit_entries

pytestmark = pytest.mark.django_db


def test_one_user_of_either_company_or_the_platform_is_found_by_id_or_email(user_a, user_b, super_admin):
    """Each identity resolves to its own row with its company, and nothing is written to the audit log."""
    for user in (user_a, user_b, super_admin):
        assert user_before_scope(pk=user.pk) == user
        found = user_before_scope(email=user.email.upper())
        assert found == user
        assert found.company == user.company
    assert audit_entries() == []


@pytest.mark.parametrize(
    "key", [{"pk": uuid.uuid4()}, {"pk": "not-a-uuid"}, {"email": "nobody@x.example"}, {}]
)
def test_an_unknown_or_malformed_key_names_no_user(key, user_a):
    assert user_before_scope(**key) is None


def test_the_look_up_leaves_no_wider_scope_behind(user_a, company_b):
    """Inside company B's request, finding A's user does not widen B's transaction to every company."""
    with company_context(company_b):
        assert user_before_scope(pk=user_a.pk) == user_a
        assert list(User.objects.all()) == []


def test_password_and_session_sign_in_find_users_of_every_company(user_a, user_b, super_admin):
    """authenticate() and a session's user id work for company users and super admins alike."""
    for user in (user_a, user_b, super_admin):
        assert authenticate(None, username=user.email, password=TEST_PASSWORD) == user
        assert authenticate(None, username=user.email, password="wrong") is None
        assert TenantModelBackend().get_user(user.pk) == user
    assert TenantModelBackend().get_user("garbage") is None


def test_an_inactive_user_is_not_signed_in_by_session(company_a):
    inactive = UserFactory(company=company_a, is_active=False)
    assert TenantModelBackend().get_user(inactive.pk) is None


def test_an_email_of_another_company_is_taken_for_a_new_user_of_this_one(user_a, user_b):
    """Addresses are unique across companies, though a company's scope shows only its own users."""
    assert email_taken(user_b.email)
    assert not email_taken(user_b.email, except_user_id=user_b.pk)
    newcomer = User(email=user_b.email, company=user_a.company)
    with company_context(user_a.company_id), pytest.raises(ValidationError, match="already exists"):
        newcomer.validate_unique()


def test_an_address_stored_in_mixed_case_signs_in_in_any_case(company_a):
    """Rows imported before addresses were lower-cased are found through the lower(email) index."""
    imported = UserFactory(company=company_a)
    with company_context(company_a):
        User.objects.filter(pk=imported.pk).update(email="Imported.Person@Example.com")
    assert user_before_scope(email="imported.person@example.com") == imported
    assert authenticate(None, username="IMPORTED.person@example.com", password=TEST_PASSWORD) == imported
