"""Saving a change form unchanged keeps every relation it stores, even one the form cannot offer."""

from django.test import Client

from crm.models import Contact, Deal
from tenancy.context import company_context

from ..factories import AccountFactory, ContactFactory, DealFactory, UserFactory
from ..unscoped import stored


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def deal_form(deal, **values) -> dict:
    return {
        "name": deal.name,
        "stage": deal.stage,
        "amount": str(deal.amount),
        "currency": deal.currency,
        "expected_close_date": "",
        "owner": str(deal.owner_id or ""),
        "contact": str(deal.contact_id or ""),
        "account": str(deal.account_id or ""),
        "notes": "",
        "_save": "Save",
        **values,
    }


def test_a_deal_whose_account_was_deleted_keeps_it_when_saved_unchanged(company_a, company_b):
    """The form shows "deleted: <account>"; saving it unchanged keeps the account."""
    owner = UserFactory(company=company_a, role="owner", is_staff=True)
    account = AccountFactory(company=company_a, owner=owner, name="Gone Ltd")
    deal = DealFactory(company=company_a, account=account, contact=None, owner=owner)
    with company_context(company_a):
        account.soft_delete()
    client = signed_in(owner)

    page = client.get(f"/admin/crm/deal/{deal.pk}/change/").content.decode()
    response = client.post(f"/admin/crm/deal/{deal.pk}/change/", deal_form(deal))

    assert "deleted: Gone Ltd" in page
    assert response.status_code == 302
    assert stored(Deal, deal.pk).account_id == account.pk


def test_a_contact_owned_by_the_platform_keeps_its_owner_when_a_company_saves_it(
    company_a, company_b, super_admin
):
    """Created by a super admin, the contact's owner is read-only to the company and survives its save."""
    owner = UserFactory(company=company_a, role="owner", is_staff=True)
    contact = ContactFactory(company=company_a, account=None, owner=super_admin, first_name="Ada")
    client = signed_in(owner)

    page = client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    response = client.post(
        f"/admin/crm/contact/{contact.pk}/change/",
        {
            "first_name": "Ada Renamed",
            "last_name": contact.last_name,
            "email": "",
            "phone": "",
            "title": "",
            "account": "",
            "notes": "",
            "_save": "Save",
        },
    )

    assert "cannot view" in page
    assert response.status_code == 302
    kept = stored(Contact, contact.pk)
    assert (kept.first_name, kept.owner_id) == ("Ada Renamed", super_admin.pk)
