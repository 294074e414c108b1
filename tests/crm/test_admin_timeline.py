"""A contact's, account's and deal's admin change form shows its latest timeline entries, read-only."""

import pytest
from django.test import Client

from crm.admin import ADMIN_TIMELINE_ENTRIES

from ..factories import ContactFactory, NoteFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_the_change_form_shows_the_latest_entries_only(company_a, company_b, user_a):
    """Of more notes than the form shows, the newest are listed and the oldest left to the API."""
    contact = ContactFactory(company=company_a)
    for number in range(ADMIN_TIMELINE_ENTRIES + 2):
        NoteFactory(company=company_a, contact=contact, body=f"Remark number {number:02d}")
    page = signed_in(user_a).get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert f"Timeline (latest {ADMIN_TIMELINE_ENTRIES})" in page
    assert f"Remark number {ADMIN_TIMELINE_ENTRIES + 1:02d}" in page
    assert "Remark number 00" not in page and "Remark number 01" not in page
    assert 'name="timeline"' not in page  # shown, never a form field


def test_the_timeline_is_never_shown_to_another_company(company_a, company_b, user_a, user_b):
    """B's staff get no change form, and so no timeline, for A's contact."""
    contact = ContactFactory(company=company_a)
    NoteFactory(company=company_a, contact=contact, body="Only for A")
    response = signed_in(user_b).get(f"/admin/crm/contact/{contact.pk}/change/")
    assert "Only for A" not in response.content.decode()
    assert response.status_code in (302, 404)


def test_a_super_admin_sees_the_records_timeline_across_companies(company_a, company_b, super_admin):
    """Across all companies the form reads the timeline inside the record's own company."""
    contact = ContactFactory(company=company_b)
    NoteFactory(company=company_b, contact=contact, body="Support can read this")
    page = signed_in(super_admin).get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "Support can read this" in page


def test_accounts_and_deals_show_their_timelines_too(company_a, company_b, user_a):
    """A deal's stage change shows on its own form and on its account's."""
    from ..factories import DealFactory

    deal = DealFactory(account__company=company_a, name="Renewal", stage="lead")
    browser = signed_in(user_a)
    browser.post(
        f"/admin/crm/deal/{deal.pk}/change/",
        {
            "name": "Renewal",
            "stage": "won",
            "amount": "10.00",
            "currency": "USD",
            "account": str(deal.account_id),
            "contact": str(deal.contact_id),
            "owner": str(deal.owner_id),
        },
    )
    for path in (f"/admin/crm/deal/{deal.pk}/change/", f"/admin/crm/account/{deal.account_id}/change/"):
        assert "Renewal: lead → won" in browser.get(path).content.decode()
