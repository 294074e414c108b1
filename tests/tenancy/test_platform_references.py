"""Rows a super admin made in a company keep them as their user, though the company cannot read them."""

import pytest

from crm.models import Contact
from documents.models import Document
from quotes import services as quote_services
from tenancy.context import company_context
from tenancy.exceptions import CrossTenantWrite

from ..factories import DealFactory
from ..unscoped import stored

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def inside(company) -> dict:
    return {"HTTP_X_COMPANY_ID": str(company.id)}


def contact_by_support(admin_client_api, company) -> Contact:
    response = admin_client_api.post(
        "/api/contacts", {"first_name": "Ada", "last_name": "Support"}, format="json", **inside(company)
    )
    assert response.status_code == 201, response.content
    return stored(Contact, response.json()["id"])


def test_company_staff_change_a_contact_the_super_admin_owns_and_the_owner_stays(
    admin_client_api, super_admin, client_a, company_a, company_b
):
    """The platform owner is hidden from the company's scope, yet saving the contact keeps it."""
    contact = contact_by_support(admin_client_api, company_a)
    assert contact.owner_id == super_admin.pk

    response = client_a.patch(f"/api/contacts/{contact.pk}", {"first_name": "Adele"}, format="json")

    assert response.status_code == 200, response.content
    saved = stored(Contact, contact.pk)
    assert (saved.first_name, saved.owner_id) == ("Adele", super_admin.pk)


def test_the_super_admin_sends_a_quote_for_signature_inside_a_company(
    admin_client_api, super_admin, company_a, company_b, django_capture_on_commit_callbacks
):
    """The document is locked and saved again in the company's scope, the super admin kept as its user."""
    with company_context(company_a):
        quote = quote_services.create_quote(
            line_items=[{"description": "Audit", "quantity": "1", "unit_price": "100.00"}],
            deal=DealFactory(account__company=company_a),
        )

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_api.post(
            f"/api/quotes/{quote.pk}/send-for-signature", {}, format="json", **inside(company_a)
        )

    assert response.status_code == 200, response.content
    document = stored(Document, response.json()["document"])
    assert (document.status, document.user_id) == ("sent", super_admin.pk)


def test_a_loaded_row_repointed_at_a_hidden_user_is_still_refused(super_admin, user_a, user_b, company_a):
    """Only the reference read from the database is kept unchecked; a changed one is checked again."""
    with company_context(company_a):
        contact = Contact.objects.create(first_name="Kept", owner=user_a)
        loaded = Contact.objects.get(pk=contact.pk)
        for hidden in (user_b, super_admin):
            loaded.owner_id = hidden.pk
            with pytest.raises(CrossTenantWrite):
                loaded.save()
    assert stored(Contact, contact.pk).owner_id == user_a.pk


def test_a_new_row_naming_a_hidden_user_by_id_is_refused(super_admin, user_b, company_a):
    """A new row cannot take a user the company's scope cannot read, by id alone."""
    with company_context(company_a):
        for hidden in (user_b, super_admin):
            with pytest.raises(CrossTenantWrite):
                Contact.objects.create(first_name="New", owner_id=hidden.pk)
