"""Phone numbers typed as people type them are stored in E.164; currencies are ISO 4217 codes."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.models import Contact, Deal
from tenancy.context import company_context

from ..factories import AccountFactory, ContactFactory
from ..unscoped import stored

pytestmark = pytest.mark.django_db


def contacts_named(company, first_name) -> list[Contact]:
    with company_context(company):
        return list(Contact.objects.filter(first_name=first_name))


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(415) 555-0100", "+14155550100"),
        ("415.555.0100", "+14155550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_a_typed_number_is_stored_and_answered_in_e164(client_a, company_a, company_b, typed, e164):
    response = client_a.post("/api/contacts", {"first_name": "Tel", "phone": typed}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["phone"] == e164
    assert stored(Contact, response.json()["id"]).phone == e164
    assert contacts_named(company_b, "Tel") == []


@pytest.mark.parametrize("typed", ["555-01", "+1 000 000 0000", "call me", "+999 1234"])
def test_a_number_that_is_no_phone_number_is_refused_and_nothing_is_stored(client_a, company_a, typed):
    response = client_a.post("/api/contacts", {"first_name": "Bad", "phone": typed}, format="json")

    assert response.status_code == 400
    assert "valid phone number" in response.json()["phone"][0]
    assert contacts_named(company_a, "Bad") == []


def test_a_number_without_country_code_is_read_in_the_default_region(client_a, company_a, settings):
    settings.PHONE_DEFAULT_REGION = "GB"

    response = client_a.post("/api/contacts", {"first_name": "Uk", "phone": "020 7946 0958"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["phone"] == "+442079460958"


def test_an_account_number_is_normalised_too_and_a_change_keeps_e164(client_a, company_a):
    account = AccountFactory(company=company_a)

    response = client_a.patch(f"/api/accounts/{account.pk}", {"phone": "(212) 555-0143"}, format="json")

    assert response.status_code == 200, response.content
    assert stored(type(account), account.pk).phone == "+12125550143"


def test_the_orm_stores_e164_whatever_form_it_is_given(company_a):
    contact = ContactFactory(company=company_a, phone="(415) 555-0100")

    assert stored(Contact, contact.pk).phone == "+14155550100"


def test_the_admin_form_takes_a_typed_number(user_a, company_a):
    browser = Client()
    browser.force_login(user_a)
    form = {"first_name": "Admin", "last_name": "", "email": "", "phone": "(415) 555-0199", "title": ""}
    form.update({"account": "", "owner": "", "notes": "", "_save": "Save"})

    response = browser.post("/admin/crm/contact/add/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    (contact,) = contacts_named(company_a, "Admin")
    assert contact.phone == "+14155550199"
    rejected = browser.post("/admin/crm/contact/add/", {**form, "first_name": "Nope", "phone": "12"})
    assert rejected.status_code == 200 and b"valid phone number" in rejected.content
    assert contacts_named(company_a, "Nope") == []


def test_the_schema_asks_for_a_phone_number_as_typed_and_lists_currencies(client_a):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]

    phone = components["Contact"]["properties"]["phone"]
    assert "pattern" not in phone and phone["maxLength"] == 40
    currencies = [
        component["enum"]
        for component in components.values()
        if "enum" in component and "EUR" in component["enum"]
    ]
    assert currencies and "XYZ" not in currencies[0] and "JPY" in currencies[0]


@pytest.mark.parametrize("path", ["/api/deals", "/api/quotes"])
def test_a_currency_outside_iso_4217_is_refused(client_a, company_a, path):
    body = {"name": "Unknown money", "title": "Unknown money", "currency": "XYZ"}
    response = client_a.post(path, body, format="json")

    assert response.status_code == 400
    assert "ISO 4217" in str(response.json()["currency"])


def test_a_currency_in_lower_case_is_stored_upper_case(client_a, company_a):
    response = client_a.post("/api/deals", {"name": "Euro deal", "currency": "eur"}, format="json")

    assert response.status_code == 201, response.content
    assert stored(Deal, response.json()["id"]).currency == "EUR"
