"""Registering a number: the company's own Twilio account must own it, a deleted one stays reserved, a limit.

Twilio is reached through the SDK with only its HTTP transport replaced (tests/messaging/twilio_numbers.py).
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from messaging.models import PhoneNumber
from messaging.twilio import DRY_RUN_ACCOUNT_SID, dry_run_number_sid
from tenancy.context import company_context

from ..conftest import bearer_client
from ..factories import TwilioSettingsFactory, UserFactory

URL = "/api/sms/phone-numbers"
TAKEN = {"number": ["This number is already registered."]}
NUMBER = "+14155550100"
OTHER_NUMBER = "+14155550177"

pytestmark = pytest.mark.django_db


def not_owned(twilio_settings) -> dict:
    return {
        "number": [
            f"This company's Twilio account {twilio_settings.account_sid} does not own this number. "
            "Buy it or port it into that account at Twilio, then register it here."
        ]
    }


def stored(company, *, include_deleted=False) -> list[tuple]:
    with company_context(company):
        rows = PhoneNumber.objects.including_deleted() if include_deleted else PhoneNumber.objects.all()
        return list(rows.order_by("created_at").values_list("number", "twilio_sid", "is_deleted"))


def register(client, number=NUMBER, **fields):
    return client.post(URL, {"number": number, **fields}, format="json")


def delete_number(client, company, number=NUMBER):
    with company_context(company):
        pk = PhoneNumber.objects.get(number=number).pk
    response = client.delete(f"{URL}/{pk}")
    assert response.status_code == 204, response.content


@pytest.fixture
def owned_by_both(twilio_numbers, twilio_a, twilio_b):
    """NUMBER is in both companies' Twilio accounts (one account shared, or a number ported between them)."""
    return twilio_numbers.give(twilio_a, NUMBER), twilio_numbers.give(twilio_b, NUMBER)


@pytest.fixture
def registration_rates(settings):
    """Set the per-user and per-company registration limits of one test."""

    def set_rates(user: str, company: str) -> None:
        rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
        rates.update(phone_number_user=user, phone_number_company=company)
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rates


# The company's own Twilio account


def test_a_number_the_account_owns_is_registered_with_its_pn_sid(
    client_a, client_b, company_a, company_b, twilio_numbers, twilio_a, twilio_b
):
    """A's account owns the number: 201 with Twilio's PN SID, asked with A's credentials; B sees nothing."""
    sid = twilio_numbers.give(twilio_a, NUMBER)

    response = register(client_a, "+1 (415) 555-0100")

    assert response.status_code == 201, response.content
    assert response.json()["twilio_sid"] == sid
    assert stored(company_a) == [(NUMBER, sid, False)]
    assert twilio_numbers.lookups() == [
        {"account": twilio_a.account_sid, "PhoneNumber": NUMBER, "PageSize": 20}
    ]
    assert client_b.get(URL).json()["results"] == []
    assert stored(company_b) == []


def test_a_number_another_account_owns_is_refused_and_its_owner_still_registers_it(
    client_a, client_b, company_a, company_b, twilio_numbers, twilio_a, twilio_b
):
    """Squatting: A cannot register B's Twilio number (400, nothing stored); B then registers it."""
    sid = twilio_numbers.give(twilio_b, NUMBER)

    refused = register(client_a)
    owner = register(client_b)

    assert refused.status_code == 400
    assert refused.json() == not_owned(twilio_a)
    assert stored(company_a, include_deleted=True) == []
    assert owner.status_code == 201, owner.content
    assert stored(company_b) == [(NUMBER, sid, False)]


def test_a_number_that_only_contains_the_typed_one_is_not_owned(
    client_a, company_a, twilio_numbers, twilio_a, twilio_b
):
    """Twilio's filter matches partial numbers; only the exact number counts as owned."""
    twilio_numbers.give(twilio_a, NUMBER + "1")

    response = register(client_a)

    assert response.status_code == 400
    assert response.json() == not_owned(twilio_a)
    assert stored(company_a) == []


def test_the_sid_is_twilios_and_never_the_request_bodys(
    client_a, company_a, twilio_numbers, twilio_a, twilio_b
):
    """A `twilio_sid` in the body is ignored; the stored SID is the one Twilio answered."""
    sid = twilio_numbers.give(twilio_a, NUMBER)

    response = register(client_a, twilio_sid="PN" + "f" * 32)

    assert response.status_code == 201, response.content
    assert stored(company_a) == [(NUMBER, sid, False)]


def test_without_twilio_settings_the_answer_is_to_configure_twilio_first(
    client_a, client_b, company_a, company_b, twilio_numbers, twilio_b
):
    """Not in dry-run, A without Twilio settings gets a 400 naming /api/twilio-settings; B registers."""
    twilio_numbers.give(twilio_b, NUMBER)

    refused = register(client_a)
    accepted = register(client_b)

    assert refused.status_code == 400
    assert "/api/twilio-settings" in refused.json()["detail"]
    assert "first" in refused.json()["detail"]
    assert stored(company_a) == []
    assert [lookup["account"] for lookup in twilio_numbers.lookups()] == [twilio_b.account_sid]
    assert accepted.status_code == 201, accepted.content


def test_credentials_twilio_refuses_are_a_400_saying_to_correct_them(
    client_a, client_b, company_a, twilio_fake, owned_by_both, twilio_a
):
    """A's stored token was revoked at Twilio (401): 400 saying to correct the settings; B registers."""
    twilio_fake.accounts[twilio_a.account_sid] = "a-token-revoked-at-twilio"

    response = register(client_a)

    assert response.status_code == 400
    assert "refused this company's credentials (HTTP 401)" in response.json()["detail"]
    assert stored(company_a, include_deleted=True) == []
    assert register(client_b).status_code == 201


def test_twilio_unreachable_is_a_503_and_nothing_is_stored(
    client_a, client_b, company_a, twilio_numbers, twilio_a, twilio_b
):
    """A connection error at the transport: 503 with a clear detail; once reachable, the number registers."""
    twilio_numbers.give(twilio_a, NUMBER)
    twilio_numbers.unreachable = True

    response = register(client_a)

    assert response.status_code == 503
    assert "could not be reached" in response.json()["detail"]
    assert "nothing was registered" in response.json()["detail"]
    assert stored(company_a, include_deleted=True) == []
    twilio_numbers.unreachable = False
    assert register(client_a).status_code == 201


def test_a_twilio_error_is_a_502_and_nothing_is_stored(
    client_a, company_a, twilio_fake, twilio_numbers, twilio_a, twilio_b
):
    """Twilio answers 500: 502 naming Twilio's status, and no row."""
    twilio_numbers.give(twilio_a, NUMBER)
    twilio_fake.fail_next(500, 20500, "An internal server error has occurred")

    response = register(client_a)

    assert response.status_code == 502
    assert "(HTTP 500)" in response.json()["detail"]
    assert stored(company_a, include_deleted=True) == []


def test_in_dry_run_the_look_up_answers_from_the_dry_run_transport(
    settings, client_a, client_b, company_a, company_b
):
    """Dry-run: A without settings and B with settings both register, with the dry-run transport's SIDs."""
    settings.TWILIO_DRY_RUN = True
    twilio_b = TwilioSettingsFactory(company=company_b)

    mine = register(client_a)
    theirs = register(client_b, OTHER_NUMBER)

    assert mine.status_code == theirs.status_code == 201
    assert stored(company_a) == [(NUMBER, dry_run_number_sid(DRY_RUN_ACCOUNT_SID, NUMBER), False)]
    assert stored(company_b) == [
        (OTHER_NUMBER, dry_run_number_sid(twilio_b.account_sid, OTHER_NUMBER), False)
    ]


# Already registered: the same answer, whoever holds the number


def test_a_registered_number_is_the_same_answer_in_the_same_company_and_in_another(
    client_a, client_b, company_a, company_b, owned_by_both
):
    """Both accounts own the number, A registered it: A again and B get the same 400; nothing changes."""
    assert register(client_a).status_code == 201
    before = stored(company_a)

    again = register(client_a)
    elsewhere = register(client_b)

    assert again.status_code == elsewhere.status_code == 400
    assert again.json() == elsewhere.json() == TAKEN
    assert stored(company_a) == before
    assert stored(company_b, include_deleted=True) == []


def test_a_company_whose_account_does_not_own_a_number_cannot_tell_whether_it_is_registered(
    client_a, client_b, twilio_numbers, twilio_a, twilio_b
):
    """B asks about a number A registered and about one nobody has: the two answers are identical."""
    twilio_numbers.give(twilio_a, NUMBER)
    assert register(client_a).status_code == 201

    registered = register(client_b, NUMBER)
    unregistered = register(client_b, OTHER_NUMBER)

    assert registered.status_code == unregistered.status_code == 400
    assert registered.json() == unregistered.json() == not_owned(twilio_b)


# A deleted number stays reserved for its company


def test_a_deleted_number_stays_reserved_for_its_company_which_may_take_it_back(
    client_a, client_b, company_a, company_b, owned_by_both
):
    """After A deletes its number, B gets the registered answer; A registers it again."""
    sid_a, _ = owned_by_both
    assert register(client_a).status_code == 201
    delete_number(client_a, company_a)

    other = register(client_b)
    back = register(client_a)

    assert other.status_code == 400
    assert other.json() == TAKEN
    assert stored(company_b, include_deleted=True) == []
    assert back.status_code == 201, back.content
    assert stored(company_a) == [(NUMBER, sid_a, False)]


@pytest.mark.parametrize(("days_ago", "status"), [(29, 400), (31, 201)])
def test_the_reservation_lasts_the_configured_days(
    days_ago, status, settings, client_a, client_b, company_a, company_b, owned_by_both
):
    """PHONE_NUMBER_RESERVATION_DAYS=30: deleted 29 days ago B is refused; 31 days ago B registers it."""
    settings.PHONE_NUMBER_RESERVATION_DAYS = 30
    assert register(client_a).status_code == 201
    delete_number(client_a, company_a)
    with company_context(company_a):
        PhoneNumber.objects.including_deleted().update(updated_at=timezone.now() - timedelta(days=days_ago))

    response = register(client_b)

    assert response.status_code == status, response.content
    assert len(stored(company_b)) == (status == 201)


def test_no_reservation_when_the_setting_is_zero(
    settings, client_a, client_b, company_a, company_b, owned_by_both
):
    """PHONE_NUMBER_RESERVATION_DAYS=0: another company may register a deleted number at once."""
    settings.PHONE_NUMBER_RESERVATION_DAYS = 0
    assert register(client_a).status_code == 201
    delete_number(client_a, company_a)

    assert register(client_b).status_code == 201
    assert [row[0] for row in stored(company_b)] == [NUMBER]


def test_changing_the_number_registers_the_new_one_and_keeps_the_old_reserved(
    client_a, client_b, company_a, company_b, twilio_numbers, owned_by_both, twilio_a
):
    """A PATCH to another number asks Twilio for it; the number it replaces stays reserved for A."""
    new_sid = twilio_numbers.give(twilio_a, OTHER_NUMBER)
    created = register(client_a)
    assert created.status_code == 201

    changed = client_a.patch(f"{URL}/{created.json()['id']}", {"number": OTHER_NUMBER}, format="json")
    other = register(client_b)

    assert changed.status_code == 200, changed.content
    assert (changed.json()["number"], changed.json()["twilio_sid"]) == (OTHER_NUMBER, new_sid)
    assert other.json() == TAKEN
    assert stored(company_b, include_deleted=True) == []
    assert register(client_a).status_code == 201


def test_changing_to_a_number_the_account_does_not_own_changes_nothing(
    client_a, company_a, twilio_numbers, twilio_a, twilio_b
):
    """A PATCH to B's Twilio number is a 400 on `number`; A's row and SID stay as they were."""
    twilio_numbers.give(twilio_a, NUMBER)
    twilio_numbers.give(twilio_b, OTHER_NUMBER)
    created = register(client_a)
    before = stored(company_a, include_deleted=True)

    response = client_a.patch(f"{URL}/{created.json()['id']}", {"number": OTHER_NUMBER}, format="json")

    assert response.status_code == 400
    assert response.json() == not_owned(twilio_a)
    assert stored(company_a, include_deleted=True) == before


# Rate limits


def test_registrations_are_limited_per_user(
    registration_rates, company_a, client_b, owned_by_both, twilio_numbers, twilio_b
):
    """Two an hour per user: the third attempt is a 429 with Retry-After; a colleague and B still register."""
    registration_rates(user="2/hour", company="100/hour")
    twilio_numbers.give(twilio_b, OTHER_NUMBER)
    owner = bearer_client(UserFactory(company=company_a, role="owner"))
    colleague = bearer_client(UserFactory(company=company_a, role="admin"))
    first, second = register(owner, "+14155550301"), register(owner, "+14155550302")

    third = register(owner, NUMBER)

    assert (first.status_code, second.status_code) == (400, 400)  # not owned, but counted
    assert third.status_code == 429
    assert int(third["Retry-After"]) > 0
    assert "Too many phone number registrations" in third.json()["detail"]
    assert stored(company_a) == []
    assert len(twilio_numbers.lookups()) == 2
    assert register(colleague, NUMBER).status_code == 201
    assert register(client_b, OTHER_NUMBER).status_code == 201


def test_registrations_are_limited_per_company(
    registration_rates, company_a, company_b, client_b, owned_by_both
):
    """Two an hour per company: A's third registration by another user is a 429; B registers."""
    registration_rates(user="100/hour", company="2/hour")
    users = [bearer_client(UserFactory(company=company_a, role="owner")) for _ in range(3)]
    register(users[0], "+14155550301")
    register(users[1], "+14155550302")

    refused = register(users[2], NUMBER)
    accepted = register(client_b, NUMBER)

    assert refused.status_code == 429
    assert stored(company_a) == []
    assert accepted.status_code == 201, accepted.content


def test_invalid_input_and_changes_that_keep_the_number_are_not_counted(
    registration_rates, client_a, company_a, owned_by_both
):
    """One an hour: a malformed number and renaming a registered number never use the registration up."""
    registration_rates(user="1/hour", company="1/hour")
    for _ in range(3):
        assert register(client_a, "not a number").status_code == 400
    created = register(client_a)
    assert created.status_code == 201, created.content

    renames = [
        client_a.patch(f"{URL}/{created.json()['id']}", {"friendly_name": f"Line {n}"}, format="json")
        for n in range(3)
    ]
    again = client_a.patch(f"{URL}/{created.json()['id']}", {"number": OTHER_NUMBER}, format="json")

    assert [response.status_code for response in renames] == [200, 200, 200]
    assert again.status_code == 429
    assert stored(company_a) == [(NUMBER, owned_by_both[0], False)]


# The admin goes through the same rule


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


ADD = "/admin/messaging/phonenumber/add/"


def admin_form(number=NUMBER, **fields) -> dict:
    return {
        "number": number,
        "friendly_name": "Front desk",
        "sms_enabled": "on",
        "voice_enabled": "on",
        **fields,
    }


def test_the_admin_registers_an_owned_number_with_its_sid(
    user_a, company_a, company_b, twilio_numbers, twilio_a
):
    """The add form asks Twilio like the API; the row has Twilio's PN SID."""
    sid = twilio_numbers.give(twilio_a, NUMBER)

    response = browser(user_a).post(ADD, admin_form())

    assert response.status_code == 302
    assert stored(company_a) == [(NUMBER, sid, False)]
    assert stored(company_b) == []


def test_the_admin_refuses_a_number_the_account_does_not_own(
    user_a, company_a, twilio_numbers, twilio_a, twilio_b
):
    """B's Twilio number in A's add form: a form error, nothing stored."""
    twilio_numbers.give(twilio_b, NUMBER)

    response = browser(user_a).post(ADD, admin_form())

    assert response.status_code == 200
    assert "does not own this number" in response.content.decode()
    assert stored(company_a, include_deleted=True) == []


def test_the_admin_refuses_a_number_reserved_by_another_company(
    user_b, client_a, company_a, company_b, owned_by_both
):
    """A deleted A's number; B's add form gets the registered answer."""
    assert register(client_a).status_code == 201
    delete_number(client_a, company_a)

    response = browser(user_b).post(ADD, admin_form())

    assert response.status_code == 200
    assert "This number is already registered." in response.content.decode()
    assert stored(company_b, include_deleted=True) == []


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda numbers, settings_a: settings_a.delete(), "Twilio is not set up for this company"),
        (lambda numbers, settings_a: setattr(numbers, "unreachable", True), "could not be reached"),
    ],
    ids=["not-configured", "unreachable"],
)
def test_the_admin_says_what_is_wrong_with_twilio_and_stores_nothing(
    prepare, message, user_a, company_a, twilio_numbers, twilio_a
):
    """No Twilio settings, or Twilio unreachable: the add form says so, and no row is written."""
    twilio_numbers.give(twilio_a, NUMBER)
    with company_context(company_a):
        prepare(twilio_numbers, twilio_a)

    response = browser(user_a).post(ADD, admin_form())

    assert response.status_code == 200
    assert message in response.content.decode()
    assert stored(company_a, include_deleted=True) == []


def test_the_admin_change_form_registers_a_changed_number_and_keeps_the_old_reserved(
    user_a, client_b, company_a, company_b, twilio_numbers, owned_by_both, twilio_a, client_a
):
    """Changing the number in the admin asks Twilio for the new one; B may not take the old one."""
    new_sid = twilio_numbers.give(twilio_a, OTHER_NUMBER)
    created = register(client_a).json()

    response = browser(user_a).post(
        f"/admin/messaging/phonenumber/{created['id']}/change/", admin_form(OTHER_NUMBER, user=user_a.pk)
    )

    assert response.status_code == 302
    with company_context(company_a):
        assert PhoneNumber.objects.values_list("number", "twilio_sid").get() == (OTHER_NUMBER, new_sid)
    assert register(client_b).json() == TAKEN


def test_the_admin_counts_registrations_against_the_same_limits(
    registration_rates, user_a, client_a, company_a, owned_by_both
):
    """One an hour: after an API registration by the same user, the admin add form refuses the next."""
    registration_rates(user="1/hour", company="100/hour")
    assert register(client_a, "+14155550301").status_code == 400

    response = browser(user_a).post(ADD, admin_form())

    assert response.status_code == 200
    assert "Too many phone number registrations" in response.content.decode()
    assert stored(company_a) == []


def test_a_super_admin_registers_in_the_admin_with_the_chosen_companys_account(
    super_admin, company_a, company_b, twilio_numbers, twilio_a, twilio_b
):
    """Across companies, the chosen company's Twilio account is asked: B's number for B, not for A."""
    sid = twilio_numbers.give(twilio_b, NUMBER)
    client = browser(super_admin)

    for_a = client.post(ADD, admin_form(company=company_a.pk))
    for_b = client.post(ADD, admin_form(company=company_b.pk))

    assert for_a.status_code == 200
    assert "does not own this number" in for_a.content.decode()
    assert for_b.status_code == 302
    assert stored(company_a) == []
    assert stored(company_b) == [(NUMBER, sid, False)]
