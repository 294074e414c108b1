"""Phone numbers over /api/sms/phone-numbers (dry-run Twilio): E.164, held once, owners, capabilities.

What Twilio answers, reservations and limits: test_phone_number_registration.py.
"""

import pytest

from messaging.models import PhoneNumber
from tenancy.context import company_context

from ..conftest import bearer_client
from ..factories import PhoneNumberFactory, UserFactory
from ..unscoped import audit_entries

URL = "/api/sms/phone-numbers"
TAKEN = "This number is already registered."

pytestmark = pytest.mark.django_db


def detail(number) -> str:
    return f"{URL}/{number.pk}"


def snapshot(number, company) -> dict:
    with company_context(company):
        return PhoneNumber.objects.filter(pk=number.pk).values().get()


def numbers_of(company) -> list[str]:
    with company_context(company):
        return list(PhoneNumber.objects.values_list("number", flat=True))


def listed(client, **params) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


# Registering


def test_owner_registers_a_number_owned_by_themself_by_default(client_a, client_b, company_a, user_a):
    """A typed number is stored in E.164 with the creator as owner; B neither lists nor reads it."""
    response = client_a.post(
        URL,
        {"number": "+1 (415) 555-0100", "friendly_name": "Front desk", "voice_enabled": False},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == "+14155550100"
    assert body["user"] == str(user_a.pk)
    assert body["company"] == str(company_a.pk)
    assert (body["sms_enabled"], body["voice_enabled"]) == (True, False)
    assert numbers_of(company_a) == ["+14155550100"]
    assert listed(client_a) == ["+14155550100"]
    assert listed(client_b) == []
    assert client_b.get(f"{URL}/{body['id']}").status_code == 404


def test_a_named_colleague_becomes_the_default_owner(client_a, company_a):
    """The body may name another user of the company as the number's owner."""
    colleague = UserFactory(company=company_a)

    response = client_a.post(URL, {"number": "+14155550101", "user": str(colleague.pk)}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["user"] == str(colleague.pk)
    with company_context(company_a):
        assert PhoneNumber.objects.get(number="+14155550101").user_id == colleague.pk


def test_a_user_of_the_other_company_cannot_own_the_number(client_a, company_a, user_b):
    """Naming company B's user as owner is a 400 on `user`, and nothing is stored."""
    response = client_a.post(URL, {"number": "+14155550102", "user": str(user_b.pk)}, format="json")

    assert response.status_code == 400
    assert "user" in response.json()
    assert numbers_of(company_a) == []


@pytest.mark.parametrize("number", ["4155550100", "+0415555010", "+1415555010012345", "+1 415 CALL NOW", ""])
def test_a_number_not_in_e164_is_refused(number, client_a, company_a):
    """Anything but +, a country code and up to 15 digits is a 400 on `number`, and nothing is stored."""
    response = client_a.post(URL, {"number": number}, format="json")

    assert response.status_code == 400, response.content
    assert "number" in response.json()
    assert numbers_of(company_a) == []


def test_a_number_is_registered_once_across_the_platform(client_a, client_b, company_a, company_b):
    """Registering a number A already has is the same 400 for A and for B, and neither gets a row."""
    PhoneNumberFactory(company=company_a, number="+14155550103")

    again = client_a.post(URL, {"number": "+14155550103"}, format="json")
    elsewhere = client_b.post(URL, {"number": "+1 415 555 0103"}, format="json")

    assert again.status_code == elsewhere.status_code == 400
    assert again.json() == elsewhere.json() == {"number": [TAKEN]}
    assert numbers_of(company_a) == ["+14155550103"]
    assert numbers_of(company_b) == []
    assert audit_entries(reason__startswith="phone number registration")


def test_a_deleted_number_stays_with_its_company(client_a, client_b, company_a, company_b):
    """Once A deletes its number, B gets the registered answer and A may register it again."""
    released = PhoneNumberFactory(company=company_a, number="+14155550104")

    assert client_a.delete(detail(released)).status_code == 204
    other = client_b.post(URL, {"number": "+14155550104"}, format="json")
    back = client_a.post(URL, {"number": "+14155550104"}, format="json")

    assert other.status_code == 400
    assert other.json() == {"number": [TAKEN]}
    assert numbers_of(company_b) == []
    assert back.status_code == 201, back.content
    assert numbers_of(company_a) == ["+14155550104"]


# Changing


def test_changing_the_name_keeps_the_number_and_its_owner(client_a, client_b, company_a, user_a):
    """PUT without `user` keeps the stored owner; B's PUT on A's number is a 404."""
    owner = UserFactory(company=company_a)
    number = PhoneNumberFactory(company=company_a, number="+14155550105", user=owner)
    before = snapshot(number, company_a)
    body = {"number": "+14155550105", "friendly_name": "Support", "sms_enabled": False}

    response = client_a.put(detail(number), body, format="json")
    foreign = client_b.put(detail(number), {**body, "friendly_name": "Hijacked"}, format="json")

    assert response.status_code == 200, response.content
    after = snapshot(number, company_a)
    assert (after["friendly_name"], after["sms_enabled"]) == ("Support", False)
    assert after["user_id"] == owner.pk != user_a.pk
    assert after["number"] == before["number"]
    assert foreign.status_code == 404


def test_changing_to_a_number_registered_elsewhere_is_refused(client_a, company_a, company_b):
    """PATCHing a number to one company B owns is a 400 on `number`, and A's number stays."""
    mine = PhoneNumberFactory(company=company_a, number="+14155550106")
    PhoneNumberFactory(company=company_b, number="+14155550107")
    before = snapshot(mine, company_a)

    response = client_a.patch(detail(mine), {"number": "+14155550107"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"number": [TAKEN]}
    assert snapshot(mine, company_a) == before


def test_members_read_numbers_but_cannot_manage_them(company_a):
    """A member lists and reads numbers; create, change and delete are 403 and change nothing."""
    number = PhoneNumberFactory(company=company_a, number="+14155550108")
    before = snapshot(number, company_a)
    member = bearer_client(UserFactory(company=company_a, role="member"))

    assert listed(member) == ["+14155550108"]
    assert member.get(detail(number)).status_code == 200
    attempts = [
        member.post(URL, {"number": "+14155550109"}, format="json"),
        member.patch(detail(number), {"friendly_name": "Mine now"}, format="json"),
        member.delete(detail(number)),
    ]

    for response in attempts:
        assert response.status_code == 403
    assert snapshot(number, company_a) == before
    assert numbers_of(company_a) == ["+14155550108"]


def test_an_admin_manages_numbers(company_a):
    """A company admin registers and changes numbers."""
    admin = bearer_client(UserFactory(company=company_a, role="admin"))

    created = admin.post(URL, {"number": "+14155550110"}, format="json")
    changed = admin.patch(f"{URL}/{created.json()['id']}", {"voice_enabled": False}, format="json")

    assert created.status_code == 201, created.content
    assert changed.status_code == 200, changed.content
    assert changed.json()["voice_enabled"] is False


# Finding


@pytest.fixture
def lines(company_a, company_b):
    """Three numbers of A with different capabilities and owners, and one of B."""
    sales_rep = UserFactory(company=company_a)
    return {
        "main": PhoneNumberFactory(company=company_a, number="+14155550111", friendly_name="Main line"),
        "texts": PhoneNumberFactory(
            company=company_a,
            number="+14155550112",
            friendly_name="Texts",
            voice_enabled=False,
            user=sales_rep,
        ),
        "fax": PhoneNumberFactory(
            company=company_a, number="+14155550113", friendly_name="Old fax", sms_enabled=False
        ),
        "b": PhoneNumberFactory(company=company_b, number="+14155550114", friendly_name="Main line"),
    }


def test_filters_by_capability_and_owner_within_the_company(lines, client_a, client_b):
    """?sms_enabled, ?voice_enabled and ?user narrow A's numbers, never showing B's."""
    assert listed(client_a, sms_enabled="false") == ["+14155550113"]
    assert listed(client_a, voice_enabled="true", sms_enabled="true") == ["+14155550111"]
    assert listed(client_a, user=str(lines["texts"].user_id)) == ["+14155550112"]
    assert listed(client_b, voice_enabled="true") == ["+14155550114"]
    assert listed(client_b, user=str(lines["texts"].user_id)) == []


def test_search_by_name_and_number_within_the_company(lines, client_a, client_b):
    """?search= matches friendly names and digits of the number, each company in its own numbers."""
    assert listed(client_a, search="main") == ["+14155550111"]
    assert listed(client_a, search="0112") == ["+14155550112"]
    assert listed(client_b, search="main") == ["+14155550114"]
    assert listed(client_b, search="0112") == []
