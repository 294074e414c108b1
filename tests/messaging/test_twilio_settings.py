"""Twilio settings over /api/twilio-settings: one a company, a write-only encrypted token, connection test."""

import logging

import pytest
from django.db import IntegrityError, connection, transaction

from messaging.models import TwilioSettings
from tenancy.context import company_context

from ..conftest import bearer_client
from ..factories import TwilioSettingsFactory, UserFactory
from ..unscoped import stored

URL = "/api/twilio-settings"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "s3cr3t-auth-token-0000000000abcd"

pytestmark = pytest.mark.django_db


def detail(settings_row) -> str:
    return f"{URL}/{settings_row.pk}"


def snapshot(settings_row, company) -> dict:
    with company_context(company):
        return TwilioSettings.objects.filter(pk=settings_row.pk).values().get()


def count(company) -> int:
    with company_context(company):
        return TwilioSettings.objects.count()


def listed_ids(client) -> list[str]:
    response = client.get(URL)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def member_a(company_a):
    return bearer_client(UserFactory(company=company_a, role="member"))


# Adding and reading


def test_owner_adds_settings_and_the_token_is_never_returned(client_a, client_b, company_a):
    """The created settings show only a hint of the token, to A and never to B."""
    response = client_a.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["account_sid"] == SID
    assert body["company"] == str(company_a.pk)
    assert body["auth_token_hint"] == "••••abcd"
    assert "auth_token" not in body
    assert TOKEN not in response.content.decode()
    read = client_a.get(f"{URL}/{body['id']}")
    assert read.status_code == 200
    assert TOKEN not in read.content.decode()
    assert listed_ids(client_a) == [body["id"]]
    assert listed_ids(client_b) == []
    assert client_b.get(f"{URL}/{body['id']}").status_code == 404


def test_the_token_is_encrypted_at_rest_and_read_back_by_the_model(client_a, company_a):
    """The auth_token column holds ciphertext; the model reads the plaintext back."""
    response = client_a.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json")
    assert response.status_code == 201, response.content

    with company_context(company_a), connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM twilio_settings WHERE id = %s", [response.json()["id"]])
        (raw,) = cursor.fetchone()

    assert raw
    assert TOKEN not in raw
    assert "abcd" not in raw
    with company_context(company_a):
        assert TwilioSettings.objects.get(pk=response.json()["id"]).auth_token == TOKEN


def test_a_second_settings_row_is_refused_but_the_other_company_adds_its_own(
    client_a, client_b, company_a, company_b
):
    """A company has one Twilio account: A's second create is a 409 naming the way out; B still adds one."""
    existing = TwilioSettingsFactory(company=company_a)
    before = snapshot(existing, company_a)

    second = client_a.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json")
    other = client_b.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json")

    assert second.status_code == 409, second.content
    assert "already has Twilio settings" in second.json()["detail"]
    assert str(existing.pk) in second.json()["detail"]
    assert count(company_a) == 1
    assert snapshot(existing, company_a) == before
    assert other.status_code == 201, other.content
    assert count(company_b) == 1


def test_the_database_refuses_a_second_live_row_but_not_after_a_soft_delete(company_a):
    """The partial unique constraint allows one live row a company; a deleted one makes room."""
    first = TwilioSettingsFactory(company=company_a)

    with pytest.raises(IntegrityError), transaction.atomic(), company_context(company_a):
        TwilioSettings.objects.create(account_sid=SID, auth_token=TOKEN)
    with company_context(company_a):
        first.soft_delete()
        TwilioSettings.objects.create(account_sid=SID, auth_token=TOKEN)

    assert count(company_a) == 1


def test_owner_can_add_settings_again_after_deleting_them(client_a, company_a):
    """DELETE hides the settings, and the company may then add new ones."""
    existing = TwilioSettingsFactory(company=company_a)

    deleted = client_a.delete(detail(existing))
    added = client_a.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json")

    assert deleted.status_code == 204
    assert added.status_code == 201, added.content
    assert listed_ids(client_a) == [added.json()["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"account_sid": "AC123", "auth_token": TOKEN}, "account_sid"),
        ({"account_sid": "XX" + "0" * 32, "auth_token": TOKEN}, "account_sid"),
        ({"account_sid": SID}, "auth_token"),
        ({"account_sid": SID, "auth_token": ""}, "auth_token"),
        ({"auth_token": TOKEN}, "account_sid"),
    ],
)
def test_invalid_settings_are_refused_per_field_and_nothing_is_stored(body, field, client_a, company_a):
    """A malformed account SID or a missing token is a 400 on that field, and no row is stored."""
    response = client_a.post(URL, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert count(company_a) == 0


def test_the_schema_requires_the_token_when_adding_only(client_a):
    """POST's body requires auth_token, as the server does; PUT and PATCH may leave it out."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()
    operations = schema["paths"]["/api/twilio-settings/"], schema["paths"]["/api/twilio-settings/{id}/"]
    components = schema["components"]["schemas"]

    def body(operation):
        reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return components[reference.rsplit("/", 1)[-1]]

    assert "auth_token" in body(operations[0]["post"])["required"]
    assert "auth_token" not in body(operations[1]["put"]).get("required", [])
    assert "auth_token" not in body(operations[1]["patch"]).get("required", [])


# Changing


def test_changing_the_sid_without_a_token_keeps_the_stored_token(client_a, client_b, company_a):
    """PATCH and PUT without auth_token keep the token; B's PATCH of A's row is a 404."""
    existing = TwilioSettingsFactory(company=company_a, auth_token=TOKEN)
    new_sid = "AC" + "f" * 32

    patched = client_a.patch(detail(existing), {"account_sid": new_sid}, format="json")
    put = client_a.put(detail(existing), {"account_sid": SID}, format="json")
    foreign = client_b.patch(detail(existing), {"account_sid": new_sid}, format="json")

    assert patched.status_code == 200, patched.content
    assert put.status_code == 200, put.content
    assert foreign.status_code == 404
    row = stored(TwilioSettings, existing.pk)
    assert row.account_sid == SID
    assert row.auth_token == TOKEN


def test_a_new_token_replaces_the_old_and_clears_the_last_test(client_a, company_a, twilio_fake):
    """A new token is stored (and hinted), and the previous connection test no longer applies."""
    existing = TwilioSettingsFactory(company=company_a, account_sid=SID, auth_token=TOKEN)
    twilio_fake.accounts[SID] = TOKEN
    assert client_a.post(f"{detail(existing)}/test-connection").json()["ok"] is True

    response = client_a.patch(detail(existing), {"auth_token": "replacement-token-9876"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["auth_token_hint"] == "••••9876"
    assert response.json()["last_test_ok"] is None
    assert response.json()["last_tested_at"] is None
    assert stored(TwilioSettings, existing.pk).auth_token == "replacement-token-9876"


# Who may change them


def test_members_read_the_settings_but_cannot_change_them(member_a, company_a):
    """A member lists and reads the settings; create, change, delete and test are 403 and change nothing."""
    existing = TwilioSettingsFactory(company=company_a)
    before = snapshot(existing, company_a)

    assert listed_ids(member_a) == [str(existing.pk)]
    assert member_a.get(detail(existing)).status_code == 200
    attempts = [
        member_a.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json"),
        member_a.patch(detail(existing), {"account_sid": SID}, format="json"),
        member_a.put(detail(existing), {"account_sid": SID, "auth_token": TOKEN}, format="json"),
        member_a.delete(detail(existing)),
        member_a.post(f"{detail(existing)}/test-connection"),
    ]

    for response in attempts:
        assert response.status_code == 403, response.content
        assert "owners and admins" in response.json()["detail"]
    assert snapshot(existing, company_a) == before
    assert count(company_a) == 1


def test_an_admin_changes_the_settings_of_their_own_company_only(company_a, company_b):
    """A company admin may change its settings, and gets 404 for the other company's."""
    own, foreign = TwilioSettingsFactory(company=company_a), TwilioSettingsFactory(company=company_b)
    before = snapshot(foreign, company_b)
    admin_a = bearer_client(UserFactory(company=company_a, role="admin"))

    changed = admin_a.patch(detail(own), {"account_sid": SID}, format="json")
    refused = admin_a.patch(detail(foreign), {"account_sid": SID}, format="json")

    assert changed.status_code == 200, changed.content
    assert stored(TwilioSettings, own.pk).account_sid == SID
    assert refused.status_code == 404
    assert snapshot(foreign, company_b) == before


# Connection test


def test_connection_test_fetches_the_account_and_records_success(client_a, client_b, company_a, twilio_fake):
    """With accepted credentials the test answers ok, fetched the account through the SDK, and is recorded."""
    existing = TwilioSettingsFactory(company=company_a, account_sid=SID, auth_token=TOKEN)
    twilio_fake.accounts[SID] = TOKEN

    response = client_a.post(f"{detail(existing)}/test-connection")

    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert response.json()["detail"]
    [request] = twilio_fake.requests
    assert request["method"] == "GET"
    assert request["path"] == f"/2010-04-01/Accounts/{SID}.json"
    assert request["auth"] == (SID, TOKEN)
    row = stored(TwilioSettings, existing.pk)
    assert row.last_test_ok is True
    assert row.last_tested_at is not None
    assert row.last_test_error == ""
    assert client_b.get(detail(existing)).status_code == 404


def test_connection_test_with_wrong_credentials_answers_twilios_refusal(client_a, company_a, twilio_fake):
    """Credentials Twilio refuses give ok=false with Twilio's message, not a 500; the failure is recorded."""
    existing = TwilioSettingsFactory(company=company_a, account_sid=SID, auth_token=TOKEN)
    twilio_fake.accounts[SID] = "the-real-token"

    response = client_a.post(f"{detail(existing)}/test-connection")

    assert response.status_code == 200, response.content
    assert response.json()["ok"] is False
    assert "401" in response.json()["detail"]
    assert "Authenticate" in response.json()["detail"]
    row = stored(TwilioSettings, existing.pk)
    assert row.last_test_ok is False
    assert "Authenticate" in row.last_test_error
    assert client_a.get(detail(existing)).json()["last_test_ok"] is False


def test_connection_test_of_the_other_companys_settings_is_a_404_and_calls_nobody(
    client_b, company_a, twilio_fake
):
    """B cannot test A's settings: 404, no request reaches Twilio, nothing is recorded."""
    existing = TwilioSettingsFactory(company=company_a, account_sid=SID, auth_token=TOKEN)
    twilio_fake.accounts[SID] = TOKEN
    before = snapshot(existing, company_a)

    response = client_b.post(f"{detail(existing)}/test-connection")

    assert response.status_code == 404
    assert twilio_fake.requests == []
    assert snapshot(existing, company_a) == before


def test_connection_test_in_dry_run_answers_locally(client_a, company_a, settings):
    """The embedded default (dry run) answers the test as Twilio would, with nothing sent anywhere."""
    settings.TWILIO_DRY_RUN = True
    existing = TwilioSettingsFactory(company=company_a, account_sid=SID, auth_token=TOKEN)

    response = client_a.post(f"{detail(existing)}/test-connection")

    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert stored(TwilioSettings, existing.pk).last_test_ok is True


def test_secrets_never_reach_the_logs(client_a, company_a, twilio_fake, caplog):
    """Adding, changing and testing the settings log nothing of the auth tokens."""
    caplog.set_level(logging.DEBUG)
    twilio_fake.accounts[SID] = "the-real-token"

    created = client_a.post(URL, {"account_sid": SID, "auth_token": TOKEN}, format="json")
    client_a.patch(f"{URL}/{created.json()['id']}", {"auth_token": "second-secret-token"}, format="json")
    client_a.post(f"{URL}/{created.json()['id']}/test-connection")

    assert created.status_code == 201
    assert caplog.records, "expected the settings changes to be logged"
    for secret in (TOKEN, "second-secret-token", "the-real-token"):
        assert secret not in caplog.text
