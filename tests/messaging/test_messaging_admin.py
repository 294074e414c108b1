"""Admin pages of messaging and calls: every page opens, and platform-wide rules hold as form errors."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client

from messaging.models import PhoneNumber, TwilioSettings
from tenancy.context import company_context

from ..factories import PhoneNumberFactory, TwilioSettingsFactory

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def registered_admin_urls() -> list[str]:
    return [
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for model in admin.site._registry
        if model._meta.app_label in {"crm", "messaging", "calls"}
    ]


# Records only the services create (a row added by hand would be sent by the outbox unchecked).
SERVICE_RECORDS = {"/admin/messaging/smsmessage/", "/admin/messaging/email/", "/admin/calls/call/"}


@pytest.mark.parametrize("url", registered_admin_urls())
def test_every_page_opens_for_company_staff_and_super_admins(url, user_a, super_admin, company_a):
    """Changelists and add forms of every domain model answer, for a company and the platform."""
    for user in (user_a, super_admin):
        client = browser(user)
        assert client.get(url).status_code == 200, (user, url)
        expected_add = 403 if url in SERVICE_RECORDS else 200
        assert client.get(f"{url}add/").status_code == expected_add, (user, url)


def test_a_second_twilio_account_is_a_form_error(user_a, company_a, user_b, company_b):
    """A company has one Twilio account; the admin says so instead of failing."""
    TwilioSettingsFactory(company=company_a)
    form = {"account_sid": "AC" + "b" * 32, "auth_token": "another-token-0000"}

    refused = browser(user_a).post("/admin/messaging/twiliosettings/add/", form)
    accepted = browser(user_b).post("/admin/messaging/twiliosettings/add/", form)

    assert refused.status_code == 200
    assert "already" in refused.content.decode()
    assert accepted.status_code == 302
    with company_context(company_a):
        assert TwilioSettings.objects.count() == 1
    with company_context(company_b):
        assert TwilioSettings.objects.get().account_sid == "AC" + "b" * 32


def test_auth_token_is_never_shown_and_blank_keeps_it(user_a, company_a):
    """The change page never renders the token; saving with the field blank keeps the stored one."""
    stored = TwilioSettingsFactory(company=company_a, auth_token="s3cret-token-abcd")
    client = browser(user_a)
    url = f"/admin/messaging/twiliosettings/{stored.pk}/change/"

    page = client.get(url).content.decode()
    saved = client.post(url, {"account_sid": stored.account_sid, "auth_token": ""})

    assert "s3cret-token-abcd" not in page
    assert saved.status_code == 302
    with company_context(company_a):
        assert TwilioSettings.objects.get().auth_token == "s3cret-token-abcd"
    with company_context(company_a), connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM twilio_settings")
        assert "s3cret-token-abcd" not in cursor.fetchone()[0]


def test_a_number_of_another_company_is_a_form_error(user_a, company_a, company_b):
    """A number registered by company B cannot be added by company A in the admin."""
    taken = PhoneNumberFactory(company=company_b)
    form = {"number": taken.number, "friendly_name": "Mine", "sms_enabled": "on", "voice_enabled": "on"}

    response = browser(user_a).post("/admin/messaging/phonenumber/add/", form)

    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    with company_context(company_a):
        assert not PhoneNumber.objects.exists()
